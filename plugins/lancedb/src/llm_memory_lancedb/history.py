"""The change history in the same LanceDB database: a second table, ``<table>_history``.

Every process and machine writing the memories table (on object storage, say) records and
reads the same history. Appends are one ``merge_insert`` on ``key`` (user id and event
id), inserting only unknown events, so a restore merging a snapshot's history doubles
nothing. Filters are expression objects, never text built from values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from lancedb.expr import col, lit
from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent, as_utc

from llm_memory_lancedb.rows import chunks

__all__ = ["LanceHistoryLog"]

SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("memory_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ts_us", pa.int64(), nullable=False),
        pa.field("actor", pa.string()),
        pa.field("old", pa.string()),
        pa.field("new", pa.string()),
        pa.field("related_id", pa.string()),
    ]
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LanceHistoryLog(HistoryLog):
    """History events as rows of their own table, beside the memories table."""

    def __init__(self, db: Any, name: str, retry: Callable[[Callable[[], Any]], Any]) -> None:
        self._db = db
        self.name = name
        self._retry = retry
        self._tbl: Any = None

    def _table(self, create: bool = False) -> Any:
        if self._tbl is None:
            try:
                self._tbl = self._db.open_table(self.name)
            except ValueError:  # not created yet: nothing recorded
                if not create:
                    return None
                self._tbl = self._db.create_table(self.name, schema=SCHEMA, exist_ok=True)
        return self._tbl

    def append(self, events: Sequence[HistoryEvent]) -> None:
        if not events:
            return
        data = pa.Table.from_pylist([_row(event) for event in events], schema=SCHEMA)
        table = self._table(create=True)
        self._retry(lambda: table.merge_insert("key").when_not_matched_insert_all().execute(data))

    def events(self, user_id: str, memory_ids: Sequence[str]) -> list[HistoryEvent]:
        found: list[HistoryEvent] = []
        for chunk in chunks(sorted(set(memory_ids))):
            found += self._scan((col("user_id") == lit(user_id)) & col("memory_id").isin(chunk))
        return sorted(found, key=lambda e: (e.timestamp, e.id))

    def replaced_by(self, user_id: str, memory_id: str) -> list[str]:
        where = (
            (col("user_id") == lit(user_id))
            & (col("related_id") == lit(memory_id))
            & (col("kind") == lit("superseded"))
        )
        return sorted({e.memory_id for e in self._scan(where)})

    def user_events(self, user_id: str) -> Iterator[HistoryEvent]:
        yield from sorted(
            self._scan(col("user_id") == lit(user_id)), key=lambda e: (e.timestamp, e.id)
        )

    def users(self) -> list[str]:
        table = self._table()
        if table is None:
            return []
        found = table.search().select(["user_id"]).limit(None).to_arrow()
        return sorted(set(found.column("user_id").to_pylist()))

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> int:
        table, removed = self._table(), 0
        if table is None:
            return 0
        for chunk in chunks(sorted(set(memory_ids))):
            where = (col("user_id") == lit(user_id)) & col("memory_id").isin(chunk)
            removed += self._retry(lambda where=where: table.delete(where)).num_deleted_rows
        return removed

    def delete_user(self, user_id: str) -> int:
        table = self._table()
        if table is None:
            return 0
        where = col("user_id") == lit(user_id)  # the Expr itself: no SQL text from values
        return self._retry(lambda: table.delete(where)).num_deleted_rows

    def _scan(self, where: Any) -> list[HistoryEvent]:
        table = self._table()
        if table is None:
            return []
        found = table.search().where(where).limit(None).to_arrow()
        return [_event(row) for row in found.to_pylist()]


def _row(event: HistoryEvent) -> dict[str, Any]:
    return {
        "key": f"{event.user_id}\x1f{event.id}",
        "id": event.id,
        "user_id": event.user_id,
        "memory_id": event.memory_id,
        "kind": event.kind,
        "ts_us": (as_utc(event.timestamp) - _EPOCH) // timedelta(microseconds=1),
        "actor": event.actor,
        "old": None if event.old is None else json.dumps(event.old, sort_keys=True),
        "new": None if event.new is None else json.dumps(event.new, sort_keys=True),
        "related_id": event.related_id,
    }


def _event(row: dict[str, Any]) -> HistoryEvent:
    return HistoryEvent(
        id=row["id"],
        user_id=row["user_id"],
        memory_id=row["memory_id"],
        kind=row["kind"],
        timestamp=_EPOCH + timedelta(microseconds=row["ts_us"]),
        actor=row["actor"],
        old=None if row["old"] is None else json.loads(row["old"]),
        new=None if row["new"] is None else json.loads(row["new"]),
        related_id=row["related_id"],
    )
