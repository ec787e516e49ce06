"""Names shared by light modules (the CLI) without importing the pydantic models."""

MEMORY_TYPES: tuple[str, ...] = ("semantic", "preference", "fact", "episodic")
