"""What code that uses memory relies on, whether the engine runs here or behind a server.

:class:`~llm_memory.manager.MemoryManager` (embedded) and
:class:`~llm_memory.client.MemoryClient` (over HTTP) both satisfy :class:`MemoryService`,
so the CLI, the MCP server and the PydanticAI toolset are written once against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from llm_memory.models import HistoryEvent, MemoryItem, ScoredMemory


@runtime_checkable
class MemoryService(Protocol):
    """The memory operations shared by the embedded engine and the HTTP client.

    Every call is scoped by ``user_id``; errors are the classes of :mod:`llm_memory.errors`.
    """

    def write_memory(
        self,
        content: str,
        user_id: str,
        *,
        type: str = "semantic",
        importance: float = 0.5,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> MemoryItem: ...

    def write_memories(
        self, items: Iterable[MemoryItem | Mapping[str, Any]]
    ) -> list[MemoryItem]: ...

    def retrieve(
        self,
        query: str,
        user_id: str,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        now: datetime | None = None,
        *,
        min_relevance: float | None = None,
    ) -> list[ScoredMemory]: ...

    def list(
        self,
        user_id: str,
        *,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        session_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MemoryItem]: ...

    def iter_memories(self, user_id: str) -> Iterator[MemoryItem]: ...

    def get(self, memory_id: str, user_id: str) -> MemoryItem: ...

    def update_memory(
        self,
        memory_id: str,
        user_id: str,
        content: str | None = None,
        type: str | None = None,
        importance: float | None = None,
    ) -> MemoryItem: ...

    def history(self, memory_id: str, user_id: str) -> list[HistoryEvent]: ...

    def forget(self, memory_id: str, user_id: str) -> bool: ...

    def forget_user(self, user_id: str) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
