"""Test kits for plugin authors: contract test classes to subclass, and server helpers.

>>> from llm_memory.testing import StorageContract, EmbedderContract, SnapshotStoreContract
>>> from llm_memory.testing import HistoryContract

The kits import pytest; they are meant for test suites only. They load on first access,
so ``import llm_memory.testing.servers`` (the root conftest) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_memory.testing.embedder import EmbedderContract
    from llm_memory.testing.history import HistoryContract
    from llm_memory.testing.snapshot import SnapshotStoreContract
    from llm_memory.testing.storage import StorageContract

__all__ = ["EmbedderContract", "HistoryContract", "SnapshotStoreContract", "StorageContract"]

_KITS = {
    "EmbedderContract": "llm_memory.testing.embedder",
    "HistoryContract": "llm_memory.testing.history",
    "SnapshotStoreContract": "llm_memory.testing.snapshot",
    "StorageContract": "llm_memory.testing.storage",
}


def __getattr__(name: str) -> Any:
    if name in _KITS:
        return getattr(importlib.import_module(_KITS[name]), name)
    raise AttributeError(f"module 'llm_memory.testing' has no attribute {name!r}")
