"""Built-in providers, registered like any plugin."""
