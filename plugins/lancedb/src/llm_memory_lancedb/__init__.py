"""llm-memory-lancedb: a LanceDB storage backend, in a local directory or on S3.

Hook module: kept small; lancedb, pyarrow and even pydantic are imported only by the factory.
"""

from __future__ import annotations

from typing import Any

from llm_memory import hookimpl
from llm_memory.providers import Provider

__all__ = ["register_storage_backends"]


def _factory(options: Any, settings: Any) -> Any:
    from llm_memory_lancedb.store import LanceDBStore

    return LanceDBStore.from_options(options, settings)


@hookimpl
def register_storage_backends() -> list[Provider]:
    return [
        Provider(
            "lancedb",
            _factory,
            "llm_memory_lancedb.options:LanceDBOptions",  # imported only when built
            "LanceDB: a local directory or S3-compatible object storage; ANN and full-text indexes",
        )
    ]
