"""Errors a person can act on: every message says what went wrong and what to do."""

from __future__ import annotations


def one_line(text: object, limit: int | None = 300) -> str:
    """``text`` (an exception's message, a server's answer) folded into one line, cut at
    ``limit`` characters; an exception with no message gives its type name."""
    line = " ".join(str(text).split())
    if not line and isinstance(text, BaseException):
        line = type(text).__name__
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


class LLMMemoryError(Exception):
    """Base class. The CLI prints ``str(error)`` as one line and exits 1."""


class ConfigError(LLMMemoryError):
    """Settings are invalid, or name something that is not available."""


class ProviderNotFound(ConfigError):
    """Configuration names a provider that no installed plugin offers."""


class ProviderLoadError(ConfigError):
    """The provider exists but could not be built (missing SDK, broken plugin, bad settings)."""


class ValidationFailed(LLMMemoryError):
    """Input was rejected before anything was written."""


class EmbedderMismatch(LLMMemoryError):
    """The store was built with another embedder (name, model or dimension)."""


class DimensionMismatch(EmbedderMismatch):
    """Vectors of the wrong length were offered to a store."""


class EmbeddingError(LLMMemoryError):
    """An embedding call failed; nothing from its batch was written."""


class StoreBusy(LLMMemoryError):
    """A store write kept losing commit races to other writers; nothing of it was written."""


class RerankError(LLMMemoryError):
    """A reranker call failed; nothing was re-ordered."""


class NotSupported(LLMMemoryError):
    """The selected provider does not offer this capability."""


class SnapshotError(LLMMemoryError):
    """A snapshot could not be created, read, verified or restored."""


class NotFound(LLMMemoryError):
    """No such memory (for this user), snapshot or other named object."""


class SnapshotInvalid(SnapshotError, ValidationFailed):
    """A snapshot id, or an archive, was refused: an invalid id, a corrupt, truncated or
    foreign archive (the HTTP API answers 422). Nothing was changed."""
