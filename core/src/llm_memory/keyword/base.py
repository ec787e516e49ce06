"""The keyword-side interface: what the indexed store calls to keep keywords in step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter

__all__ = ["KeywordIndex"]


@runtime_checkable
class KeywordIndex(Protocol):
    """A full-text index kept in step with a store by :class:`~llm_memory.storage.indexed.IndexedStore`.

    The core's SQLite index follows it, and so does the object a backend returns from
    ``VectorStore.own_keyword_index``. ``add`` may take, per item, the ids of its
    neighbours (the turns around a conversation turn), whose words it indexes with the
    item at a lower weight. ``existing`` answers which keys are stored; an index kept in
    step with its store holds exactly the store's keys.
    """

    def add(
        self, items: Sequence[MemoryItem], neighbours: Sequence[Sequence[str]] | None = None
    ) -> None: ...
    def delete(self, user_id: str, ids: Sequence[str]) -> None: ...
    def delete_user(self, user_id: str) -> None: ...
    def search(self, text: str, flt: MemoryFilter, k: int) -> list[tuple[str, float]]: ...
    def existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these ``(user_id, memory_id)`` keys are indexed, that is stored: the
        write path's duplicate check, answered from the index's key table instead of a
        store scan."""
        ...

    def clear(self) -> None: ...
    def close(self) -> None: ...
