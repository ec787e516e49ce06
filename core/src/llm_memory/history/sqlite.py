"""The core's history log: one SQLite table beside the store's data (or in memory)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from llm_memory.errors import LLMMemoryError
from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent, as_utc
from llm_memory.sqlite import connect

__all__ = ["SqliteHistoryLog"]

_CHUNK = 500  # ids per IN (...) list
_COLUMNS = "id, user_id, memory_id, kind, ts_us, actor, old, new, related_id"


class SqliteHistoryLog(HistoryLog):
    """History events as rows keyed by event id, indexed by ``(user_id, memory_id)``.

    Times are stored as integer microseconds since the epoch, so ordering is exact.
    Several processes may share the file (WAL mode, a busy timeout).
    """

    def __init__(self, path: str = ":memory:", table: str = "history") -> None:
        self.path = path
        self.table = table
        self._lock = threading.RLock()
        try:
            self._db = connect(path)
            t = table
            self._db.execute(
                f'CREATE TABLE IF NOT EXISTS "{t}" (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, '
                "memory_id TEXT NOT NULL, kind TEXT NOT NULL, ts_us INTEGER NOT NULL, "
                "actor TEXT, old TEXT, new TEXT, related_id TEXT)"
            )
            self._db.execute(
                f'CREATE INDEX IF NOT EXISTS "{t}_memory" ON "{t}" (user_id, memory_id, ts_us)'
            )
            self._db.execute(
                f'CREATE INDEX IF NOT EXISTS "{t}_related" ON "{t}" (user_id, related_id)'
            )
        except sqlite3.Error as exc:
            raise LLMMemoryError(
                f"Cannot open the history log {path!r} ({exc}); set VECTOR_STORE_DIR to a "
                "writable directory."
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def append(self, events: Sequence[HistoryEvent]) -> None:
        rows = [_row(event) for event in events]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                f'INSERT OR IGNORE INTO "{self.table}" ({_COLUMNS}) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def events(self, user_id: str, memory_ids: Sequence[str]) -> list[HistoryEvent]:
        found: list[HistoryEvent] = []
        ids = list(dict.fromkeys(memory_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            found += self._select(
                f"WHERE user_id = ? AND memory_id IN ({marks})", (user_id, *chunk)
            )
        return sorted(found, key=lambda e: (e.timestamp, e.id))

    def replaced_by(self, user_id: str, memory_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                f'SELECT DISTINCT memory_id FROM "{self.table}" '
                "WHERE user_id = ? AND related_id = ? AND kind = 'superseded'",
                (user_id, memory_id),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def user_events(self, user_id: str) -> Iterator[HistoryEvent]:
        yield from self._select("WHERE user_id = ?", (user_id,))

    def users(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                f'SELECT DISTINCT user_id FROM "{self.table}" ORDER BY user_id'
            ).fetchall()
        return [row[0] for row in rows]

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> int:
        removed = 0
        ids = list(dict.fromkeys(memory_ids))
        with self._transaction() as db:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                removed += db.execute(
                    f'DELETE FROM "{self.table}" WHERE user_id = ? AND memory_id IN ({marks})',
                    (user_id, *chunk),
                ).rowcount
        return removed

    def delete_user(self, user_id: str) -> int:
        with self._transaction() as db:
            return db.execute(f'DELETE FROM "{self.table}" WHERE user_id = ?', (user_id,)).rowcount

    def clear(self) -> None:
        with self._transaction() as db:
            db.execute(f'DELETE FROM "{self.table}"')

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _select(self, where: str, params: tuple[str, ...]) -> list[HistoryEvent]:
        with self._lock:
            rows = self._db.execute(
                f'SELECT {_COLUMNS} FROM "{self.table}" {where} ORDER BY ts_us, id', params
            ).fetchall()
        return [_event(row) for row in rows]


def _row(event: HistoryEvent) -> tuple[object, ...]:
    ts = as_utc(event.timestamp)
    micros = (ts - _EPOCH) // _MICROSECOND
    return (
        event.id,
        event.user_id,
        event.memory_id,
        event.kind,
        micros,
        event.actor,
        _dump(event.old),
        _dump(event.new),
        event.related_id,
    )


def _event(row: tuple[object, ...]) -> HistoryEvent:
    event_id, user_id, memory_id, kind, micros, actor, old, new, related = row
    assert isinstance(micros, int)
    return HistoryEvent(
        id=str(event_id),
        user_id=str(user_id),
        memory_id=str(memory_id),
        kind=kind,  # type: ignore[arg-type]
        timestamp=_EPOCH + micros * _MICROSECOND,
        actor=actor if actor is None else str(actor),
        old=json.loads(str(old)) if old is not None else None,
        new=json.loads(str(new)) if new is not None else None,
        related_id=related if related is None else str(related),
    )


def _dump(value: dict[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH
