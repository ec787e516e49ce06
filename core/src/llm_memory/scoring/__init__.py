"""Scorers: the final order of a relevance-selected candidate set."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from llm_memory.models import Candidate, ScoredMemory

__all__ = ["Scorer"]


class Scorer(ABC):
    """Turns candidates (relevance normalised to [0, 1]) into scored memories, best first."""

    name: str = ""

    @abstractmethod
    def score(
        self, query: str, candidates: Sequence[Candidate], now: datetime
    ) -> list[ScoredMemory]:
        """Score every candidate; ``now`` is the time recency is measured from."""
