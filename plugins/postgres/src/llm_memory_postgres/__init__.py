"""llm-memory-postgres: a PostgreSQL + pgvector storage backend.

Hook module: kept small; psycopg and the pool are imported only by the factory.
"""

from __future__ import annotations

from typing import Any

from llm_memory import hookimpl
from llm_memory.providers import Provider

__all__ = ["register_storage_backends"]


def _factory(options: Any, settings: Any) -> Any:
    from llm_memory_postgres.store import PostgresStore

    return PostgresStore.from_options(options, settings)


@hookimpl
def register_storage_backends() -> list[Provider]:
    return [
        Provider(
            "postgres",
            _factory,
            "llm_memory_postgres.options:PostgresOptions",  # imported only when built
            "PostgreSQL + pgvector: HNSW vectors, keyword search and row-level security, shared",
        )
    ]
