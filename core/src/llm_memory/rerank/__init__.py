"""Rerankers: re-order the candidate set by relevance before scoring (optional)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from llm_memory.models import Candidate

__all__ = ["Reranker"]


class Reranker(ABC):
    name: str = ""

    @abstractmethod
    def rerank(self, query: str, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Return the candidates with new ``relevance`` in [0, 1], best first."""
