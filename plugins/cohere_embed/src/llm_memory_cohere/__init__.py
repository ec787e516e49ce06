"""Plugin skeleton; providers are registered by the hook module."""
