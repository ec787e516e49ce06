"""Candidate selection: dense and keyword lists fused by reciprocal rank, then shortlisted.

The scorer only re-ranks what this module selects by relevance: the ``limit`` most
relevant memories. Recency and importance order them; they never pull a less relevant
memory into the result (benchmarks/README.md measures what that costs: nothing at R@20,
under 0.005 at R@10 on LoCoMo, against 0.02 when the scorer re-ranked 50 candidates).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from llm_memory.keyword.base import KeywordIndex  # noqa: F401 - its old home, kept importable
from llm_memory.models import Candidate, MemoryItem
from llm_memory.storage import StoreHit

#: Reciprocal-rank constant. 10 rather than the usual 60: with one strong list (BM25 over
#: turns and their context) a steeper curve lets its top ranks count (LoCoMo R@10 +0.01).
RRF_K = 10
T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Fused:
    """A memory id with its fused score and its rank in each list."""

    id: str
    score: float
    sources: dict[str, int]


def rrf(
    ranked: Mapping[str, Sequence[str]],
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[Fused]:
    """Weighted reciprocal-rank fusion of ranked id lists: ``sum(weight / (k + rank))``,
    best first (ties keep the order of first appearance)."""
    weights = weights or {}
    scores: dict[str, float] = {}
    sources: dict[str, dict[str, int]] = {}
    for name, ids in ranked.items():
        weight = weights.get(name, 1.0)
        for rank, key in enumerate(ids, start=1):
            if name in sources.get(key, {}):
                continue  # a list naming a memory twice counts its best rank
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            sources.setdefault(key, {})[name] = rank
    order = sorted(scores, key=lambda key: -scores[key])
    return [Fused(key, scores[key], sources[key]) for key in order]


def candidates(
    fused: Sequence[Fused],
    known: dict[str, MemoryItem],
    fetch: Callable[[list[str]], Iterable[MemoryItem]],
    count: int,
) -> list[Candidate]:
    """The first ``count`` fused memories that exist, as candidates.

    ``known`` holds the memories a list returned whole (vector search does); the others
    (keyword hits) are fetched, only as far down the ranking as needed, in one call
    unless some have vanished. Relevance is the fused score over the best one's.
    """
    out: list[Candidate] = []
    best = fused[0].score if fused else 1.0
    start = 0
    while len(out) < count and start < len(fused):
        chunk = fused[start : start + count - len(out)]
        start += len(chunk)
        missing = [f.id for f in chunk if f.id not in known]
        if missing:
            known.update((item.id, item) for item in fetch(missing))
        out += [
            Candidate(memory=known[f.id], relevance=f.score / best, sources=f.sources)
            for f in chunk
            if f.id in known
        ]
    return out


def fuse(
    ranked: Mapping[str, Sequence[StoreHit]],
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[Candidate]:
    """:func:`rrf` over lists of store hits, as candidates (relevance: over the best)."""
    known = {hit.item.id: hit.item for hits in ranked.values() for hit in hits}
    fused = rrf({name: [h.item.id for h in hits] for name, hits in ranked.items()}, weights, k)
    return candidates(fused, known, lambda ids: [], len(fused))


def shortlist(candidates: Sequence[Candidate], limit: int) -> list[Candidate]:
    """The ``limit`` most relevant candidates, relevance min-max normalised over them.

    Normalising over what is returned spreads relevance over [0, 1] (best 1, last 0), so
    that 0.5·relevance outweighs 0.2·recency between memories far apart in relevance and
    recency only reorders near neighbours. Fused scores are nearly flat (1/11 against
    1/12), and left as they are importance and recency would outvote relevance.
    """
    chosen = sorted(candidates, key=lambda c: -c.relevance)[:limit]
    if not chosen:
        return []
    best, worst = chosen[0].relevance, chosen[-1].relevance
    span = best - worst
    return [
        c.model_copy(update={"relevance": (c.relevance - worst) / span if span > 0 else 1.0})
        for c in chosen
    ]


def in_background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn(*args)`` on a small shared thread pool: the keyword side of a search runs
    while the vector search waits on its backend (both release the GIL)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm-memory-search")
    return _pool.submit(fn, *args)
