"""llm-memory: long-term memory for LLM agents.

>>> from llm_memory import MemoryManager
>>> memory = MemoryManager.from_settings(storage_backend="memory")

Only ``hookimpl`` and ``Provider`` are imported eagerly: plugin hook modules import them,
and ``llm-memory --help`` loads every hook module, so this package must stay light.
Everything else is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider

if TYPE_CHECKING:
    from llm_memory.manager import MemoryManager
    from llm_memory.models import (
        Candidate,
        ConversationTurn,
        EmbedderInfo,
        MemoryItem,
        MemoryState,
        MemoryUpdate,
        ScoredMemory,
    )
    from llm_memory.settings import Settings, load_settings

_LAZY = {
    "MemoryManager": "llm_memory.manager",
    "Settings": "llm_memory.settings",
    "load_settings": "llm_memory.settings",
    **{
        name: "llm_memory.models"
        for name in (
            "Candidate",
            "ConversationTurn",
            "EmbedderInfo",
            "MemoryItem",
            "MemoryState",
            "MemoryUpdate",
            "ScoredMemory",
        )
    },
}

__all__ = [  # noqa: RUF022
    "Provider",
    "hookimpl",
    "MemoryManager",
    "Settings",
    "load_settings",
    "Candidate",
    "ConversationTurn",
    "EmbedderInfo",
    "MemoryItem",
    "MemoryState",
    "MemoryUpdate",
    "ScoredMemory",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llm_memory' has no attribute {name!r}")
