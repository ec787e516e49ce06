"""Settings of the memory backend (imported only when it is built)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MemoryStoreOptions(BaseSettings):
    """Settings of the ``memory`` backend (``MEMORY_STORE_*`` or the ``[memory]`` table)."""

    model_config = SettingsConfigDict(env_prefix="MEMORY_STORE_")

    path: Path | None = Field(
        None,
        description="JSON file holding the memories; default: <vector_store_dir>/memory_store.json.",
    )
