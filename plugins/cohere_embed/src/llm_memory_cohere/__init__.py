"""llm-memory-cohere: Cohere embeddings (documents and queries embedded apart) and reranking.

Hook module: kept small, and the ``cohere`` SDK is imported only by the factories.
"""

from __future__ import annotations

from typing import Any

from llm_memory import hookimpl
from llm_memory.providers import Provider

__all__ = ["CohereOptions", "register_embedders", "register_rerankers"]


def _embedder(options: Any, settings: Any) -> Any:
    from llm_memory_cohere.embedder import CohereEmbedder

    return CohereEmbedder.from_options(options, getattr(settings, "embedding_model", None))


def _reranker(options: Any, settings: Any) -> Any:
    from llm_memory_cohere.rerank import CohereReranker

    return CohereReranker.from_options(options)


@hookimpl
def register_embedders() -> list[Provider]:
    return [
        Provider(
            "cohere",
            _embedder,
            "llm_memory_cohere.options:CohereOptions",
            "Cohere Embed (v2 API), search_document/search_query.",
        )
    ]


@hookimpl
def register_rerankers() -> list[Provider]:
    return [
        Provider(
            "cohere",
            _reranker,
            "llm_memory_cohere.options:CohereOptions",
            "Cohere Rerank (v2 API): RERANKER=cohere.",
        )
    ]
