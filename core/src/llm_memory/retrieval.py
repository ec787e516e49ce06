"""Candidate selection: dense and keyword lists fused by reciprocal rank.

The scorer only re-ranks what this module selects by relevance; recency and importance
never pull an irrelevant memory into the candidate set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from llm_memory.models import Candidate, MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit

RRF_K = 60


@runtime_checkable
class KeywordIndex(Protocol):
    """A full-text index the core keeps beside a store that has none of its own."""

    def add(self, items: Sequence[MemoryItem]) -> None: ...
    def delete(self, user_id: str, ids: Sequence[str]) -> None: ...
    def delete_user(self, user_id: str) -> None: ...
    def search(self, text: str, flt: MemoryFilter, k: int) -> list[tuple[str, float]]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


def fuse(ranked: Mapping[str, Sequence[StoreHit]], k: int = RRF_K) -> list[Candidate]:
    """Reciprocal-rank fusion of several ranked lists.

    Relevance is the fused score min-max normalised over the candidates (best 1, worst 0):
    RRF scores are nearly flat (1/61 against 1/62), and dividing by the best would leave
    every candidate near 1, letting importance and recency outvote relevance.
    """
    scores: dict[str, float] = {}
    items: dict[str, MemoryItem] = {}
    sources: dict[str, dict[str, int]] = {}
    for name, hits in ranked.items():
        for rank, hit in enumerate(hits, start=1):
            key = hit.item.id
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            items.setdefault(key, hit.item)
            sources.setdefault(key, {})[name] = rank
    if not scores:
        return []
    best, worst = max(scores.values()), min(scores.values())
    span = best - worst
    order = sorted(scores, key=lambda key: -scores[key])
    return [
        Candidate(
            memory=items[key],
            relevance=(scores[key] - worst) / span if span > 0 else 1.0,
            sources=sources[key],
        )
        for key in order
    ]
