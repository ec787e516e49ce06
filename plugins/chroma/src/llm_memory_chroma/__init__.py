"""llm-memory plugin: the ``chroma`` storage backend, embedded or client/server.

chromadb is imported only when the backend is built (in ``_chroma``), never when plugins load.
"""

from __future__ import annotations

from typing import Any

from llm_memory import Provider, hookimpl


def _chroma(options: Any, settings: Any) -> Any:
    from llm_memory_chroma.store import ChromaStore

    return ChromaStore(
        settings.collection,
        path=settings.vector_store_dir,
        host=options.host,
        port=options.port,
        ssl=options.ssl,
        headers=options.headers,
        tenant=options.tenant,
        database=options.database,
    )


@hookimpl
def register_storage_backends() -> list[Provider]:
    return [
        Provider(
            "chroma",
            _chroma,
            "llm_memory_chroma.options:ChromaOptions",
            "Chroma, embedded (a directory) or a Chroma server",
        )
    ]
