"""Candidate selection and absolute relevance: the pure steps of retrieval.

Dense and keyword lists are fused by reciprocal rank (:func:`rrf`): that order picks the
memories. Rank fusion says which memory is better, not how good any is, so each candidate
also gets an absolute :func:`relevance` in [0, 1], comparable across queries and
independent of how many memories are asked for:

- a memory's **match** is the larger of its *term coverage* (the share of the query's
  content words, stemmed and without stop words, that the memory's content holds) and its
  *calibrated cosine* (the vector similarity mapped linearly from the embedder's
  ``similarity_range``, ``(low, high)``, onto [0, 1]);
- its **relevance** is its own match, except for a memory that keyword search returned
  (its words, or those of its neighbouring turns and its date, match the query): half its
  own match and half the best match among the query's candidates (``answer``). A query
  that nothing answers scores low on every memory; a memory that answers it scores high;
  the turns keyword search found beside a strong answer keep some of its weight, and a
  memory that shares nothing with the query scores its calibrated cosine alone.

``MIN_RELEVANCE`` drops candidates below a floor. The scorer then orders the survivors in
consecutive blocks (:func:`in_blocks`) of ``MAX_ACTIVE_MEMORIES``: recency and importance
reorder memories inside a block of equally chosen ones and never pull a memory over a
more relevant block, and asking for ``k`` memories gives the first ``k`` of asking for
more. benchmarks/README.md has the figures behind each number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from llm_memory.keyword.base import KeywordIndex  # noqa: F401 - its old home, kept importable
from llm_memory.models import Candidate, MemoryItem
from llm_memory.text import content_terms

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


# -- absolute relevance --------------------------------------------------------------------
def query_terms(query: str) -> frozenset[str]:
    """The query's content words, as the keyword index and the hash embedder see them."""
    return frozenset(content_terms(query))


def coverage(terms: frozenset[str], content: str) -> float:
    """The share of ``terms`` that ``content`` holds (0 when the query has no content word)."""
    if not terms:
        return 0.0
    return len(terms.intersection(content_terms(content))) / len(terms)


def calibrated(similarity: float | None, similarity_range: tuple[float, float]) -> float:
    """A cosine similarity mapped linearly from ``(low, high)`` onto [0, 1], clamped."""
    if similarity is None:
        return 0.0
    low, high = similarity_range
    if high <= low:
        return 1.0 if similarity >= high else 0.0
    return min(1.0, max(0.0, (similarity - low) / (high - low)))


def match(
    terms: frozenset[str],
    item: MemoryItem,
    similarity: float | None,
    similarity_range: tuple[float, float],
) -> float:
    """How well one memory matches the query on its own: coverage or calibrated cosine."""
    return max(coverage(terms, item.content), calibrated(similarity, similarity_range))


def relevance(own: float, answer: float, keyword_hit: bool) -> float:
    """A keyword hit: half its own match, half the best match among the query's
    candidates (``answer``); any other memory: its own match."""
    return 0.5 * own + 0.5 * max(own, answer) if keyword_hit else own


# -- selection -----------------------------------------------------------------------------
def candidates(
    fused: Sequence[Fused],
    known: dict[str, MemoryItem],
    fetch: Callable[[list[str]], Iterable[MemoryItem]],
    count: int,
    score: Callable[[MemoryItem], float],
    floor: float = 0.0,
) -> list[Candidate]:
    """The first ``count`` fused memories that exist and whose relevance (``score``)
    reaches ``floor``, as candidates in fused order.

    ``known`` holds the memories a list returned whole (vector search does); the others
    (keyword hits) are fetched, only as far down the ranking as needed, a chunk at a time.
    """
    out: list[Candidate] = []
    start = 0
    while len(out) < count and start < len(fused):
        chunk = fused[start : start + count - len(out)]
        start += len(chunk)
        missing = [f.id for f in chunk if f.id not in known]
        if missing:
            known.update((item.id, item) for item in fetch(missing))
        for f in chunk:
            if f.id in known:
                value = score(known[f.id])
                if value >= floor:
                    out.append(Candidate(memory=known[f.id], relevance=value, sources=f.sources))
    return out


def in_blocks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive blocks of ``size`` (the last one shorter)."""
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


def in_background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn(*args)`` on a small shared thread pool: the keyword side of a search runs
    while the vector search waits on its backend (both release the GIL)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm-memory-search")
    return _pool.submit(fn, *args)
