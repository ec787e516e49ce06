"""Summarizers: compress older conversation turns into one summary memory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from llm_memory.models import MemoryItem

__all__ = ["Summarizer"]


class Summarizer(ABC):
    name: str = ""

    @abstractmethod
    def summarize(self, turns: Sequence[MemoryItem], max_chars: int = 1000) -> str:
        """A summary of ``turns`` (oldest first) of at most ``max_chars`` characters."""
