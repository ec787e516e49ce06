"""Test kits for plugin authors: contract test classes to subclass, and server helpers.

>>> from llm_memory_testing import StorageContract, EmbedderContract, SnapshotStoreContract
>>> from llm_memory_testing import HistoryContract

A distribution of its own (``llm-memory-testing``), so the core wheel ships no test code
and no vendor wire format. The kits import pytest; they load on first access, so
``import llm_memory_testing.servers`` (the root conftest) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_memory_testing.embedder import EmbedderContract
    from llm_memory_testing.history import HistoryContract
    from llm_memory_testing.snapshot import SnapshotStoreContract
    from llm_memory_testing.storage import StorageContract

__all__ = ["EmbedderContract", "HistoryContract", "SnapshotStoreContract", "StorageContract"]

_KITS = {
    "EmbedderContract": "llm_memory_testing.embedder",
    "HistoryContract": "llm_memory_testing.history",
    "SnapshotStoreContract": "llm_memory_testing.snapshot",
    "StorageContract": "llm_memory_testing.storage",
}


def __getattr__(name: str) -> Any:
    if name in _KITS:
        return getattr(importlib.import_module(_KITS[name]), name)
    raise AttributeError(f"module 'llm_memory_testing' has no attribute {name!r}")
