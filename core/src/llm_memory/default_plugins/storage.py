"""Built-in storage backend: ``memory`` (numpy, optionally persisted to a JSON file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _memory_store(options: Any, settings: Any) -> Any:
    # numpy is imported only when the backend is built, not when plugins load.
    from llm_memory.storage.memory import MemoryStore

    return MemoryStore(options.path or Path(settings.vector_store_dir) / "memory_store.json")


@hookimpl
def register_storage_backends() -> list[Provider]:
    return [
        Provider(
            "memory",
            _memory_store,
            "llm_memory.storage.memory_options:MemoryStoreOptions",
            "In-process store (numpy), optionally persisted to a JSON file",
        )
    ]
