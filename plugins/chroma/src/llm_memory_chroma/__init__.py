"""llm-memory plugin: the ``chroma`` storage backend, embedded or client/server.

chromadb is imported only when the backend is built (in ``_chroma``), never when plugins load.
"""

from __future__ import annotations

from typing import Any

from llm_memory import Provider, hookimpl
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChromaOptions(BaseSettings):
    """Settings of the ``chroma`` backend (``CHROMA_*`` variables or the ``[chroma]`` table)."""

    model_config = SettingsConfigDict(env_prefix="CHROMA_")

    host: str | None = Field(
        None, description="Chroma server host or URL; unset: embedded in vector_store_dir."
    )
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    ssl: bool = Field(False, description="Use HTTPS to reach the server.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='HTTP headers for the server, e.g. {"Authorization": "Bearer …"}.',
    )
    tenant: str = Field("default_tenant", description="Chroma tenant on the server.")
    database: str = Field("default_database", description="Chroma database on the server.")


def _chroma(options: ChromaOptions, settings: Any) -> Any:
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
            "chroma", _chroma, ChromaOptions, "Chroma, embedded (a directory) or a Chroma server"
        )
    ]
