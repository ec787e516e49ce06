"""The ``cohere`` reranker: ``POST /v2/rerank`` through ``cohere.ClientV2``."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from llm_memory.errors import RerankError
from llm_memory.models import Candidate
from llm_memory.rerank import Reranker
from llm_memory.retry import RetryPolicy

from llm_memory_cohere._client import CohereAPI
from llm_memory_cohere.options import DEFAULT_RERANK_MODEL, CohereOptions


class CohereReranker(Reranker):
    """Scores every candidate's content against the query; relevance is Cohere's score in [0, 1].

    Large candidate sets go in batches of ``batch_size`` documents (scores are absolute,
    so batches merge). ``requests`` and ``search_units`` count what was billed.
    """

    name = "cohere"

    def __init__(
        self,
        model: str = DEFAULT_RERANK_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        batch_size: int = 1000,
    ) -> None:
        self.model = model
        self.batch_size = max(1, batch_size)
        self.requests = 0
        self.search_units = 0.0
        self._lock = threading.Lock()
        self.api = CohereAPI(api_key, base_url, timeout, retry)

    @classmethod
    def from_options(cls, options: CohereOptions) -> CohereReranker:
        return cls(
            options.rerank_model,
            api_key=options.api_key.get_secret_value() if options.api_key else None,
            base_url=options.base_url,
            timeout=options.timeout,
            retry=RetryPolicy.from_options(options, "COHERE_"),
            batch_size=options.rerank_batch_size,
        )

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> list[Candidate]:
        candidates = list(candidates)
        if not candidates or not query.strip():
            return sorted(candidates, key=lambda c: -c.relevance)
        scores: dict[int, float] = {}
        for start in range(0, len(candidates), self.batch_size):
            documents = [c.memory.content for c in candidates[start : start + self.batch_size]]
            for index, score in self._scores(query, documents).items():
                scores[start + index] = score
        # A document the API left out ranks last rather than disappearing.
        order = sorted(range(len(candidates)), key=lambda i: (-scores.get(i, 0.0), i))
        return [candidates[i].model_copy(update={"relevance": scores.get(i, 0.0)}) for i in order]

    def _scores(self, query: str, documents: list[str]) -> dict[int, float]:
        response = self.api.call(
            lambda: self.api.client.rerank(model=self.model, query=query, documents=documents),
            f"Reranking with {self.model}",
            "COHERE_RERANK_MODEL",
            RerankError,
        )
        billed = response.meta.billed_units if response.meta is not None else None
        with self._lock:
            self.requests += 1
            self.search_units += float(getattr(billed, "search_units", 0) or 0)
        return {
            r.index: min(1.0, max(0.0, float(r.relevance_score)))
            for r in response.results
            if 0 <= r.index < len(documents)
        }

    def close(self) -> None:
        self.api.close()
