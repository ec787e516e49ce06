"""The retriever: both searches, their fusion, the fetch of hits, rerank, shortlist, scoring.

``MemoryManager.retrieve`` validates its arguments, then calls :meth:`Retriever.retrieve`.
The pure steps (``rrf``, ``candidates``, ``shortlist``) live in :mod:`llm_memory.retrieval`;
this object decides what runs, in which order, on which store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from llm_memory.embedding import Embedder, embed_checked
from llm_memory.models import Candidate, MemoryItem, ScoredMemory
from llm_memory.rerank import Reranker
from llm_memory.retrieval import candidates, in_background, rrf, shortlist
from llm_memory.scoring import Scorer
from llm_memory.storage import MemoryFilter
from llm_memory.storage.indexed import IndexedStore

__all__ = ["Retriever"]


class Retriever:
    """Relevance first, then the scorer.

    ``weights`` are the fusion weights of the two ranked lists, ``{"dense": ..,
    "keyword": ..}`` (``FUSION_VECTOR_WEIGHT``, ``FUSION_KEYWORD_WEIGHT``); ``hybrid``
    False searches by vector only. ``pool`` is how many candidates each search returns
    (``RETRIEVAL_CANDIDATES``, at least the ``limit`` asked for).
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
    ) -> None:
        self.memories = memories
        self.embedder = embedder
        self.scorer = scorer
        self.reranker = reranker
        self.weights = dict(weights or {})
        self.hybrid = hybrid
        self.pool = pool

    def retrieve(
        self, query: str, flt: MemoryFilter, limit: int, now: datetime
    ) -> list[ScoredMemory]:
        """The ``limit`` most relevant memories of ``flt`` for ``query``, ordered by the scorer."""
        k = max(self.pool, limit)
        vector = embed_checked(self.embedder, [query], query=True)[0]
        with self.memories.reading():
            chosen = self.candidates(query, vector, flt, k, limit)
        if self.reranker is not None and chosen:
            chosen = self.reranker.rerank(query, chosen)
        return self.scorer.score(query, shortlist(chosen, limit), now)[:limit]

    def candidates(
        self, query: str, vector: list[float], flt: MemoryFilter, k: int, limit: int
    ) -> list[Candidate]:
        """Vector and keyword search fused; the memories of the best, fetched as needed."""
        # Keyword search (and fetching its best hits) runs beside the vector search.
        keyword_side = (
            in_background(self.memories.keyword_hits, query, flt, k, limit) if self.hybrid else None
        )
        dense = self.memories.vector_hits(vector, flt, k)
        known = {hit.item.id: hit.item for hit in dense}
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

        # Without a reranker only the shortlist is needed: keyword hits below it are never
        # fetched from the store.
        wanted = len(fused) if self.reranker is not None else limit
        return candidates(fused, known, fetch, wanted)
