"""llm-memory-openai: embeddings from OpenAI or any OpenAI-compatible server.

Hook module: kept small, and the ``openai`` SDK is imported only by the factory.
"""

from __future__ import annotations

from typing import Any

from llm_memory import hookimpl
from llm_memory.providers import Provider

__all__ = ["register_embedders"]


def _factory(options: Any, settings: Any) -> Any:
    from llm_memory_openai.embedder import OpenAIEmbedder

    return OpenAIEmbedder.from_options(options, getattr(settings, "embedding_model", None))


@hookimpl
def register_embedders() -> list[Provider]:
    return [
        Provider(
            "openai",
            _factory,
            "llm_memory_openai.options:OpenAIOptions",
            "OpenAI embeddings (text-embedding-3-*) or any OpenAI-compatible server (OPENAI_BASE_URL).",
        )
    ]
