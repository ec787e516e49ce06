"""The change history in the same database: ``{table}_history``, one row per event.

Every process and machine sharing the store records and reads the same history. Appends
are ``INSERT ... ON CONFLICT DO NOTHING`` on ``(user_id, id)``, so a restore merging a
snapshot's history doubles nothing; the row-level security policy guards this table too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent
from psycopg import sql

from llm_memory_postgres import rows

if TYPE_CHECKING:
    from llm_memory_postgres.store import PostgresStore

__all__ = ["PostgresHistoryLog"]

_ORDER = sql.SQL(" ORDER BY timestamp, id")


class PostgresHistoryLog(HistoryLog):
    """History events as rows beside the memories; the event itself is kept as JSON."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.table = store.names.of("_history")

    def append(self, events: Sequence[HistoryEvent]) -> None:
        if not events:
            return
        statement = sql.SQL(
            "INSERT INTO {} (user_id, id, memory_id, kind, timestamp, related_id, event) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, id) DO NOTHING"
        ).format(self.table)
        by_user: dict[str, list[tuple[object, ...]]] = {}
        for e in events:
            rows.refuse_nul(e.user_id, e.id, e.memory_id, e.related_id)
            by_user.setdefault(e.user_id, []).append(
                (e.user_id, e.id, e.memory_id, e.kind, e.timestamp, e.related_id,
                 e.model_dump_json())
            )  # fmt: skip
        with self.store.transaction(None) as conn:
            for user_id, params in by_user.items():
                self.store.act_as(conn, user_id)
                conn.cursor().executemany(statement, params)

    def _select(self, user_id: str, where: str, params: Sequence[object]) -> list[HistoryEvent]:
        rows.refuse_nul(user_id)
        query = sql.SQL("SELECT event FROM {} WHERE user_id = %s").format(self.table)
        query = query + sql.SQL(where) + _ORDER
        with self.store.transaction(user_id) as conn:
            found = conn.execute(query, [user_id, *params]).fetchall()
        return [HistoryEvent.model_validate_json(raw) for (raw,) in found]

    def events(self, user_id: str, memory_ids: Sequence[str]) -> list[HistoryEvent]:
        if not memory_ids:
            return []
        return self._select(user_id, " AND memory_id = ANY(%s)", [list(memory_ids)])

    def replaced_by(self, user_id: str, memory_id: str) -> list[str]:
        found = self._select(user_id, " AND kind = 'superseded' AND related_id = %s", [memory_id])
        return list(dict.fromkeys(e.memory_id for e in found))

    def user_events(self, user_id: str) -> Iterator[HistoryEvent]:
        yield from self._select(user_id, "", [])

    def users(self) -> list[str]:
        query = sql.SQL("SELECT DISTINCT user_id FROM {} ORDER BY user_id").format(self.table)
        with self.store.transaction(None) as conn:
            return [row[0] for row in conn.execute(query)]

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        rows.refuse_nul(user_id, *memory_ids)
        statement = sql.SQL("DELETE FROM {} WHERE user_id = %s AND memory_id = ANY(%s)")
        with self.store.transaction(user_id) as conn:
            cur = conn.execute(statement.format(self.table), [user_id, list(memory_ids)])
            return cur.rowcount

    def delete_user(self, user_id: str) -> int:
        rows.refuse_nul(user_id)
        statement = sql.SQL("DELETE FROM {} WHERE user_id = %s").format(self.table)
        with self.store.transaction(user_id) as conn:
            return conn.execute(statement, [user_id]).rowcount

    def clear(self) -> None:
        with self.store.transaction(None) as conn:
            conn.execute(sql.SQL("DELETE FROM {}").format(self.table))
