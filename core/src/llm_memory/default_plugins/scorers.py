"""Built-in scorer: ``weighted`` (relevance, importance, recency)."""

from __future__ import annotations

from typing import Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _weighted(options: Any, settings: object) -> Any:
    from llm_memory.scoring.weighted import WeightedScorer

    return WeightedScorer(options)


@hookimpl
def register_scorers() -> list[Provider]:
    return [
        Provider(
            "weighted",
            _weighted,
            "llm_memory.scoring.weighted:WeightedOptions",
            "0.5·relevance + 0.3·importance + 0.2·recency over the relevance-selected candidates.",
        )
    ]
