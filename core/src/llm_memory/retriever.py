"""The retriever: both searches, their fusion, absolute relevance, rerank, scoring in blocks.

``MemoryManager.retrieve`` validates its arguments, then calls :meth:`Retriever.retrieve`.
The pure steps (``rrf``, ``relevance``, ``candidates``, ``in_blocks``) live in
:mod:`llm_memory.retrieval`, which also documents how relevance is calibrated; this object
decides what runs, in which order, on which store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from llm_memory.embedding import Embedder, embed_checked
from llm_memory.models import Candidate, MemoryItem, ScoredMemory
from llm_memory.rerank import Reranker
from llm_memory.retrieval import (
    candidates,
    in_background,
    in_blocks,
    match,
    query_terms,
    relevance,
    rrf,
)
from llm_memory.scoring import Scorer
from llm_memory.storage import MemoryFilter
from llm_memory.storage.indexed import IndexedStore

__all__ = ["Retriever"]


class Retriever:
    """Relevance first, then the scorer.

    ``weights`` are the fusion weights of the two ranked lists, ``{"dense": ..,
    "keyword": ..}`` (``FUSION_VECTOR_WEIGHT``, ``FUSION_KEYWORD_WEIGHT``); ``hybrid``
    False searches by vector only. ``pool`` is how many candidates each search returns
    (``RETRIEVAL_CANDIDATES``, at least the ``limit`` asked for). ``min_relevance`` drops
    memories below that relevance (``MIN_RELEVANCE``); ``block`` is how many memories,
    chosen by relevance, the scorer orders together (``MAX_ACTIVE_MEMORIES``).
    """

    def __init__(
        self,
        memories: IndexedStore,
        embedder: Embedder,
        scorer: Scorer,
        reranker: Reranker | None = None,
        *,
        weights: Mapping[str, float] | None = None,
        hybrid: bool = True,
        pool: int = 50,
        min_relevance: float = 0.0,
        block: int = 10,
    ) -> None:
        self.memories = memories
        self.embedder = embedder
        self.scorer = scorer
        self.reranker = reranker
        self.weights = dict(weights or {})
        self.hybrid = hybrid
        self.pool = pool
        self.min_relevance = min_relevance
        self.block = block

    def retrieve(
        self,
        query: str,
        flt: MemoryFilter,
        limit: int,
        now: datetime,
        min_relevance: float | None = None,
    ) -> list[ScoredMemory]:
        """The ``limit`` most relevant memories of ``flt`` for ``query`` at or above
        ``min_relevance``, each block of ``block`` ordered by the scorer."""
        floor = self.min_relevance if min_relevance is None else min_relevance
        vector = embed_checked(self.embedder, [query], query=True)[0]
        with self.memories.reading():
            chosen = self.candidates(query, vector, flt, limit, floor)
        if self.reranker is not None and chosen:
            reranked = self.reranker.rerank(query, chosen)
            blocks = -(-limit // self.block)
            chosen = [c for c in reranked if c.relevance >= floor][: blocks * self.block]
        scored: list[ScoredMemory] = []
        for block in in_blocks(chosen, self.block):
            scored += self.scorer.score(query, block, now)
        return scored[:limit]

    def candidates(
        self, query: str, vector: list[float], flt: MemoryFilter, limit: int, floor: float
    ) -> list[Candidate]:
        """Vector and keyword search fused; the first memories of the fusion that reach
        ``floor``, with their absolute relevance: as many as the blocks that hold ``limit``
        need (all of the pool for a reranker)."""
        k = max(self.pool, limit)
        # Keyword search (and fetching its best hits) runs beside the vector search.
        keyword_side = (
            in_background(self.memories.keyword_hits, query, flt, k, self.block)
            if self.hybrid
            else None
        )
        dense = self.memories.vector_hits(vector, flt, k)
        known = {hit.item.id: hit.item for hit in dense}
        similarity = {hit.item.id: hit.score for hit in dense}
        ranked = {"dense": [hit.item.id for hit in dense]}
        if keyword_side is not None:
            keyword, found = keyword_side.result()
            for item in found:
                known.setdefault(item.id, item)
            if keyword:
                ranked["keyword"] = keyword
        fused = rrf(ranked, self.weights)

        def fetch(ids: list[str]) -> list[MemoryItem]:
            return [item for item in self.memories.get(flt.user_id, ids) if flt.matches(item)]

        terms = query_terms(query)
        span = self.embedder.similarity_range

        matched: dict[str, float] = {}

        def own(item: MemoryItem) -> float:
            # Each memory's match is computed once: the answer and the scores share it.
            if item.id not in matched:
                matched[item.id] = match(terms, item, similarity.get(item.id), span)
            return matched[item.id]

        # The query's answer: the best match among every vector hit and the first block of
        # the fusion, whatever the limit and however many hits a keyword side returns whole.
        first = fused[: self.block]
        missing = [f.id for f in first if f.id not in known]
        if missing:
            known.update((item.id, item) for item in fetch(missing))
        at_hand = [hit.item for hit in dense] + [known[f.id] for f in first if f.id in known]
        answer = max((own(item) for item in at_hand), default=0.0)
        blocks = -(-limit // self.block)  # the blocks that hold ``limit``
        wanted = len(fused) if self.reranker is not None else blocks * self.block
        by_keyword = frozenset(ranked.get("keyword", ()))

        def score(item: MemoryItem) -> float:
            return relevance(own(item), answer, item.id in by_keyword)

        return candidates(fused, known, fetch, wanted, score, floor)
