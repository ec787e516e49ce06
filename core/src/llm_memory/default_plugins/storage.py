"""Built-in storage backend: ``memory`` (numpy, optionally persisted to a JSON file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


class MemoryStoreOptions(BaseSettings):
    """Settings of the ``memory`` backend (``MEMORY_STORE_*`` or the ``[memory]`` table)."""

    model_config = SettingsConfigDict(env_prefix="MEMORY_STORE_")

    path: Path | None = Field(
        None,
        description="JSON file holding the memories; default: <vector_store_dir>/memory_store.json.",
    )


def _memory_store(options: MemoryStoreOptions, settings: Any) -> Any:
    # numpy is imported only when the backend is built, not when plugins load.
    from llm_memory.storage.memory import MemoryStore

    return MemoryStore(options.path or Path(settings.vector_store_dir) / "memory_store.json")


@hookimpl
def register_storage_backends() -> list[Provider]:
    return [
        Provider(
            "memory",
            _memory_store,
            MemoryStoreOptions,
            "In-process store (numpy), optionally persisted to a JSON file",
        )
    ]
