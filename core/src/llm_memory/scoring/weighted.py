"""The ``weighted`` scorer: the seed's 0.5·relevance + 0.3·importance + 0.2·recency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_memory.models import Candidate, ScoredMemory, as_utc
from llm_memory.scoring import Scorer


class WeightedOptions(BaseSettings):
    """Weights and recency half-life (env ``SCORER_RELEVANCE_WEIGHT``…)."""

    model_config = SettingsConfigDict(env_prefix="SCORER_")

    relevance_weight: float = Field(0.5, ge=0)
    importance_weight: float = Field(0.3, ge=0)
    recency_weight: float = Field(0.2, ge=0)
    half_life_days: float = Field(30.0, gt=0)


class WeightedScorer(Scorer):
    """Re-ranks a relevance-selected candidate set (a block of ``MAX_ACTIVE_MEMORIES``).

    ``score = relevance_weight·relevance + importance_weight·importance +
    recency_weight·recency``, with relevance absolute in [0, 1] (see
    :mod:`llm_memory.retrieval`), as the result shows it. Recency is ``0.5 ** (age / half_life)`` of the memory's ``updated_at``,
    measured from ``now`` (an import or benchmark passes the conversation's own time).
    """

    name = "weighted"

    def __init__(self, options: WeightedOptions | None = None) -> None:
        self.options = options or WeightedOptions()

    def recency(self, when: datetime, now: datetime) -> float:
        age_days = (as_utc(now) - as_utc(when)).total_seconds() / 86400.0
        return 1.0 if age_days <= 0 else 0.5 ** (age_days / self.options.half_life_days)

    def score(
        self, query: str, candidates: Sequence[Candidate], now: datetime
    ) -> list[ScoredMemory]:
        o = self.options
        scored = []
        for c in candidates:
            recency = self.recency(c.memory.updated_at or c.memory.created_at, now)
            total = o.relevance_weight * c.relevance + o.importance_weight * c.memory.importance
            total += o.recency_weight * recency
            scored.append(
                ScoredMemory(
                    memory=c.memory,
                    score=total,
                    relevance=c.relevance,
                    importance=c.memory.importance,
                    recency=recency,
                    sources=c.sources,
                )
            )
        scored.sort(key=lambda s: (-s.score, -s.relevance))
        return scored
