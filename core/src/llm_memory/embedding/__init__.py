"""Embedders: text to vectors. Documents and queries may be embedded differently."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from llm_memory.errors import EmbeddingError, LLMMemoryError
from llm_memory.models import EmbedderInfo

__all__ = ["Embedder", "EmbeddingUsage", "embed_checked"]


@dataclass
class EmbeddingUsage:
    """Counters that ``llm-memory stats`` reports, so embedding cost can be watched."""

    requests: int = 0
    texts: int = 0
    tokens: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Embedder(ABC):
    """The embedding contract. ``llm_memory_testing.EmbedderContract`` tests it.

    ``embed_documents`` is for text being stored, ``embed_queries`` for search queries;
    providers that distinguish the two (Cohere's ``input_type``) override both. Both are
    all-or-nothing: on failure raise :class:`llm_memory.errors.EmbeddingError`.
    """

    name: str = ""
    model: str = ""
    #: True for providers that call a remote API: the core caches their embeddings.
    remote: bool = False
    #: Weight of this embedder's ranked list in the fusion with keyword search, unless
    #: ``FUSION_VECTOR_WEIGHT`` is set. 1.0 for a real model; the offline ``hash``
    #: embedder declares less (its vectors hold the words BM25 already ranks; see
    #: benchmarks/README.md).
    fusion_weight: float = 1.0
    #: The cosine similarities that count as no match and as a full match when relevance
    #: is calibrated (:mod:`llm_memory.retrieval`): mapped linearly onto [0, 1] between.
    similarity_range: tuple[float, float] = (0.2, 0.7)

    def __init__(self) -> None:
        self.usage = EmbeddingUsage()

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per query, in order. Defaults to :meth:`embed_documents`."""
        return self.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def info(self) -> EmbedderInfo:
        return EmbedderInfo(name=self.name, model=self.model, dimension=self.dimension)


def embed_checked(
    embedder: Embedder, texts: Sequence[str], query: bool = False
) -> list[list[float]]:
    """One vector per text, or :class:`EmbeddingError` naming the provider (nothing of a
    batch is written when it fails)."""
    try:
        vectors = embedder.embed_queries(texts) if query else embedder.embed_documents(texts)
    except LLMMemoryError:
        raise
    except Exception as exc:  # a provider's own error
        raise EmbeddingError(
            f"Embedding with {embedder.name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if len(vectors) != len(texts):
        raise EmbeddingError(
            f"Embedder {embedder.name} returned {len(vectors)} vectors for {len(texts)} texts."
        )
    return vectors
