"""llm-memory: long-term memory for LLM agents.

>>> from llm_memory import MemoryManager
>>> memory = MemoryManager.from_settings(storage_backend="memory")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_memory.hookspecs import hookimpl
from llm_memory.models import (
    Candidate,
    ConversationTurn,
    EmbedderInfo,
    MemoryItem,
    MemoryState,
    MemoryUpdate,
    ScoredMemory,
)
from llm_memory.providers import Provider

if TYPE_CHECKING:
    from llm_memory.manager import MemoryManager
    from llm_memory.settings import Settings

__all__ = [
    "Candidate",
    "ConversationTurn",
    "EmbedderInfo",
    "MemoryItem",
    "MemoryManager",
    "MemoryState",
    "MemoryUpdate",
    "Provider",
    "ScoredMemory",
    "Settings",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # The engine pulls in numpy; keep `import llm_memory` (and `llm-memory --help`) light.
    if name == "MemoryManager":
        from llm_memory.manager import MemoryManager

        return MemoryManager
    if name == "Settings":
        from llm_memory.settings import Settings

        return Settings
    raise AttributeError(f"module 'llm_memory' has no attribute {name!r}")
