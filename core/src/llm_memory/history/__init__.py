"""The change history of memories: every write, update and removal, append-only.

The manager records :class:`~llm_memory.models.HistoryEvent` objects in a
:class:`HistoryLog` that lives with the store: a backend that can keep them in its own
database returns one from ``VectorStore.own_history_log(settings)`` (so every process and
machine sharing the store sees the same history); otherwise the core keeps them in an
SQLite file beside the store's data (:func:`history_location`), or in memory for a store
that does not persist. Snapshots carry the history and a restore merges it back;
``forget_user`` erases a user's history; ``purge`` drops the history of memories removed
more than ``RETENTION_DAYS`` ago.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from llm_memory.models import HistoryEvent

if TYPE_CHECKING:
    from llm_memory.settings import Settings
    from llm_memory.storage import VectorStore

__all__ = ["REMOVALS", "HistoryLog", "history_location", "open_history_log"]

#: Events after which a memory no longer exists (its history is kept until retention).
REMOVALS = frozenset({"forgotten", "purged", "superseded"})
FILE_NAME = "history.sqlite3"


class HistoryLog(ABC):
    """Where history events are kept. ``llm_memory_testing.HistoryContract`` tests it.

    Every read and delete is scoped by ``user_id``; memory ids are unique per user only.
    A backend writes the primitives; the base class derives :meth:`purge`.
    """

    @abstractmethod
    def append(self, events: Sequence[HistoryEvent]) -> None:
        """Store ``events``, all or nothing where the backend allows it. Idempotent by
        event id: an event already stored is skipped (a restore merges this way)."""

    @abstractmethod
    def events(self, user_id: str, memory_ids: Sequence[str]) -> list[HistoryEvent]:
        """The events of these memories of this user, oldest first (by ``timestamp``,
        then ``id``)."""

    @abstractmethod
    def replaced_by(self, user_id: str, memory_id: str) -> list[str]:
        """Ids of this user's memories that ``memory_id`` superseded (``superseded``
        events whose ``related_id`` is ``memory_id``)."""

    @abstractmethod
    def user_events(self, user_id: str) -> Iterator[HistoryEvent]:
        """Every event of this user, oldest first (for snapshots and purges)."""

    @abstractmethod
    def users(self) -> list[str]:
        """Every user id with at least one event, sorted."""

    @abstractmethod
    def delete(self, user_id: str, memory_ids: Sequence[str]) -> int:
        """Erase the events of these memories of this user; returns how many."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Erase every event of this user (right to be forgotten); returns how many."""

    def purge(self, before: datetime, keep: set[tuple[str, str]] | None = None) -> int:
        """Erase the history of memories whose last event is a removal older than ``before``,
        except the ``(user_id, memory_id)`` keys in ``keep``; returns how many events."""
        removed = 0
        for user_id in self.users():
            last: dict[str, HistoryEvent] = {}
            for event in self.user_events(user_id):
                last[event.memory_id] = event
            stale = [
                memory_id
                for memory_id, event in last.items()
                if event.kind in REMOVALS
                and event.timestamp < before
                and (user_id, memory_id) not in (keep or set())
            ]
            if stale:
                removed += self.delete(user_id, stale)
        return removed

    def clear(self) -> None:
        """Erase every event."""
        for user_id in self.users():
            self.delete_user(user_id)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""


def open_history_log(store: VectorStore, settings: Settings) -> HistoryLog:
    """The history of ``store``: its own log if it has one, else the core's SQLite log."""
    own = store.own_history_log(settings)
    if own is not None:
        return own
    from llm_memory.history.sqlite import SqliteHistoryLog

    path, table = history_location(store, settings)
    return SqliteHistoryLog(path, table)


def history_location(store: VectorStore, settings: Settings) -> tuple[str, str]:
    """Where the core keeps the history of ``store``: (SQLite path or ``:memory:``, table).

    The same place as the keyword index (see :func:`llm_memory.keyword.index_location`),
    in a file of its own: ``history.sqlite3``, one table per backend and collection.
    """
    from llm_memory.keyword import index_location

    path, table = index_location(store, settings, file_name=FILE_NAME)
    return path, "history_" + table.removeprefix("kw_")
