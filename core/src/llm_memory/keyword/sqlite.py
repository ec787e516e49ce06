"""An SQLite FTS5 keyword index: BM25 over stemmed terms, scoped by user.

Each memory is one FTS5 row with three weighted columns: its own terms, the terms of its
neighbouring conversation turns (``context``), and, for an episodic memory, the words of
its date (``7 July 2023``). Neighbours are stored as links between memory ids, not as
text, so a neighbour's context follows it: forgetting a turn removes its words from its
neighbours' rows, and re-adding a turn (a reindex or a restore) brings its context back.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llm_memory.errors import LLMMemoryError
from llm_memory.keyword import rebuild as rebuilding
from llm_memory.keyword.rebuild import signature
from llm_memory.models import MemoryItem, as_utc
from llm_memory.sqlite import connect
from llm_memory.storage import MemoryFilter
from llm_memory.text import TOKENISER_VERSION, content_terms

if TYPE_CHECKING:
    from llm_memory.storage import VectorStore

__all__ = ["SqliteKeywordIndex"]

#: Bumped when the schema or what is indexed changes: an older index is rebuilt on open.
FORMAT = f"fts5-v3/{TOKENISER_VERSION}"
#: BM25 weights of the columns: own terms, neighbouring turns, date words.
WEIGHTS = {"terms": 1.0, "context": 0.5, "date": 0.5}
#: Terms arrive stemmed and lowercased; FTS5 only splits them on spaces.
TOKENIZE = "unicode61 remove_diacritics 0 tokenchars ''''"
MAX_QUERY_TERMS = 64
_CHUNK = 500  # ids per IN (...) list
#: Seconds each pull from a shared store re-reads before the previous pull's start.
OVERLAP = 5.0


@runtime_checkable
class ChangeSource(Protocol):
    """A shared store that can list what was written to it since a time: every process's
    writes, by a stamp the store keeps with each record (a Chroma server's ``written_us``)."""

    def written_since(self, since: datetime) -> list[MemoryItem]: ...


class SqliteKeywordIndex:
    """Memories' stemmed terms in an FTS5 table, ranked by ``bm25()``.

    A row also carries a token derived from its user id in a column of its own, and every
    search requires that token in the MATCH expression, so a search only ranks the user's
    rows (the user id is checked again on the joined row). Rows are keyed by
    ``(user_id, memory_id)``: memory ids are unique per user only.
    """

    def __init__(self, path: str = ":memory:", table: str = "kw_memories") -> None:
        self.path = path
        self.table = table
        self.store: VectorStore | None = None
        self._source: ChangeSource | None = None
        self.every = 0.0
        self.synced_at = self.pulled_at = 0.0
        self._lock = threading.RLock()
        try:
            self._db = connect(path)
            #: True when the index was just created (or was of an older format): it needs
            #: a rebuild from the store.
            self.fresh = self._create()
        except sqlite3.Error as exc:
            raise LLMMemoryError(
                f"Cannot open the keyword index {path!r} ({exc}); move the file away (it is "
                "rebuilt from the store) or set VECTOR_STORE_DIR to a writable directory."
            ) from exc

    # -- schema --------------------------------------------------------------------------
    def _create(self) -> bool:
        t = self.table
        with self._transaction() as db:
            db.execute(f'CREATE TABLE IF NOT EXISTS "{t}_meta" (key TEXT PRIMARY KEY, value TEXT)')
            row = db.execute(f'SELECT value FROM "{t}_meta" WHERE key = ?', ("format",)).fetchone()
            if row is not None and row[0] == FORMAT:
                return False
            for suffix, kind in (("fts", "TABLE"), ("docs", "TABLE"), ("links", "TABLE")):
                db.execute(f'DROP {kind} IF EXISTS "{t}_{suffix}"')
            db.execute(
                f'CREATE TABLE "{t}_docs" (rowid INTEGER PRIMARY KEY, user_id TEXT NOT NULL, '
                "memory_id TEXT NOT NULL, type TEXT, created_us INTEGER, session_id TEXT, "
                "sig TEXT, UNIQUE (user_id, memory_id))"
            )
            db.execute(
                f'CREATE VIRTUAL TABLE "{t}_fts" USING fts5(owner, terms, context, date, '
                f'tokenize = "{TOKENIZE}")'
            )
            db.execute(
                f'CREATE TABLE "{t}_links" (user_id TEXT NOT NULL, memory_id TEXT NOT NULL, '
                "neighbour_id TEXT NOT NULL, PRIMARY KEY (user_id, memory_id, neighbour_id)) "
                "WITHOUT ROWID"
            )
            db.execute(
                f'CREATE INDEX "{t}_links_back" ON "{t}_links" (user_id, neighbour_id, memory_id)'
            )
            db.execute(
                f'INSERT OR REPLACE INTO "{t}_meta" (key, value) VALUES (?, ?)', ("format", FORMAT)
            )
            return True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- writes --------------------------------------------------------------------------
    def add(
        self, items: Sequence[MemoryItem], neighbours: Sequence[Sequence[str]] | None = None
    ) -> None:
        """Index (or re-index) ``items``.

        ``neighbours`` gives, per item, the ids of the same user's memories whose words
        help find it (the turns around a conversation turn); it replaces the links the
        item had. Without it an item keeps its links, so a re-add restores its context.
        """
        if neighbours is not None and len(neighbours) != len(items):
            raise ValueError(f"add got {len(items)} items but {len(neighbours)} neighbour lists.")
        latest = {(item.user_id, item.id): n for n, item in enumerate(items)}  # last one wins
        if not latest:
            return
        items = [items[n] for n in latest.values()]
        if neighbours is not None:
            neighbours = [neighbours[n] for n in latest.values()]
        t = self.table
        terms = {(i.user_id, i.id): " ".join(content_terms(i.content)) for i in items}
        with self._transaction() as db:
            self._remove_rows(db, list(terms))
            if neighbours is not None:
                self._link(db, items, neighbours)
            linked = {u for u in {i.user_id for i in items} if self._has_links(db, u)}
            first = db.execute(f'SELECT COALESCE(MAX(rowid), 0) + 1 FROM "{t}_docs"').fetchone()[0]
            db.executemany(
                f'INSERT INTO "{t}_docs" (rowid, user_id, memory_id, type, created_us, session_id, '
                "sig) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        first + n,
                        i.user_id,
                        i.id,
                        i.type,
                        _us(i.created_at),
                        i.session_id,
                        signature(i),
                    )
                    for n, i in enumerate(items)
                ],
            )
            db.executemany(
                f'INSERT INTO "{t}_fts" (rowid, owner, terms, context, date) VALUES (?, ?, ?, ?, ?)',
                [
                    (
                        first + n,
                        _owner(i.user_id),
                        terms[(i.user_id, i.id)],
                        self._context(db, (i.user_id, i.id), terms) if i.user_id in linked else "",
                        _date(i),
                    )
                    for n, i in enumerate(items)
                ],
            )
            outside = {
                linker
                for key in terms
                if key[0] in linked
                for linker in self._linkers(db, key)
                if linker not in terms
            }
            self._refresh(db, outside)

    def _link(
        self,
        db: sqlite3.Connection,
        items: Sequence[MemoryItem],
        neighbours: Sequence[Sequence[str]],
    ) -> None:
        t = self.table
        db.executemany(
            f'DELETE FROM "{t}_links" WHERE user_id = ? AND memory_id = ?',
            [(item.user_id, item.id) for item in items],
        )
        db.executemany(
            f'INSERT OR IGNORE INTO "{t}_links" (user_id, memory_id, neighbour_id) VALUES (?, ?, ?)',
            [
                (item.user_id, item.id, other)
                for item, others in zip(items, neighbours, strict=True)
                for other in others
                if other != item.id
            ],
        )

    def _has_links(self, db: sqlite3.Connection, user_id: str) -> bool:
        sql = f'SELECT 1 FROM "{self.table}_links" WHERE user_id = ? LIMIT 1'
        return db.execute(sql, (user_id,)).fetchone() is not None

    def _linkers(self, db: sqlite3.Connection, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The memories that have ``key`` as a neighbour."""
        sql = f'SELECT memory_id FROM "{self.table}_links" WHERE user_id = ? AND neighbour_id = ?'
        return [(key[0], m) for (m,) in db.execute(sql, key)]

    def _context(
        self, db: sqlite3.Connection, key: tuple[str, str], pending: dict[tuple[str, str], str]
    ) -> str:
        """The terms of the neighbours of ``key`` that are indexed (or being indexed)."""
        t = self.table
        parts = []
        for (other,) in db.execute(
            f'SELECT neighbour_id FROM "{t}_links" WHERE user_id = ? AND memory_id = ?', key
        ):
            if (key[0], other) in pending:
                parts.append(pending[(key[0], other)])
                continue
            row = db.execute(
                f'SELECT f.terms FROM "{t}_docs" AS d JOIN "{t}_fts" AS f ON f.rowid = d.rowid '
                "WHERE d.user_id = ? AND d.memory_id = ?",
                (key[0], other),
            ).fetchone()
            if row is not None:
                parts.append(row[0])
        return " ".join(parts)

    def _refresh(self, db: sqlite3.Connection, keys: set[tuple[str, str]]) -> None:
        """Recompute the context column of these rows (an FTS5 row is rewritten whole)."""
        t = self.table
        for key in keys:
            row = db.execute(
                f'SELECT d.rowid, f.terms, f.context, f.date FROM "{t}_docs" AS d '
                f'JOIN "{t}_fts" AS f ON f.rowid = d.rowid WHERE d.user_id = ? AND d.memory_id = ?',
                key,
            ).fetchone()
            if row is None:
                continue
            rowid, terms, old, date = row
            context = self._context(db, key, {})
            if context != old:
                db.execute(f'DELETE FROM "{t}_fts" WHERE rowid = ?', (rowid,))
                db.execute(
                    f'INSERT INTO "{t}_fts" (rowid, owner, terms, context, date) '
                    "VALUES (?, ?, ?, ?, ?)",
                    (rowid, _owner(key[0]), terms, context, date),
                )

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        """Forget these memories, their links, and their words in their neighbours' rows."""
        t = self.table
        keys = [(user_id, i) for i in dict.fromkeys(ids)]
        with self._transaction() as db:
            self._remove_rows(db, keys)
            linkers = {linker for key in keys for linker in self._linkers(db, key)}
            db.executemany(
                f'DELETE FROM "{t}_links" WHERE user_id = ? AND (memory_id = ? OR neighbour_id = ?)',
                [(user_id, i, i) for _, i in keys],
            )
            self._refresh(db, linkers - set(keys))

    def delete_user(self, user_id: str) -> None:
        t = self.table
        with self._transaction() as db:
            db.execute(
                f'DELETE FROM "{t}_fts" WHERE rowid IN '
                f'(SELECT rowid FROM "{t}_docs" WHERE user_id = ?)',
                (user_id,),
            )
            db.execute(f'DELETE FROM "{t}_docs" WHERE user_id = ?', (user_id,))
            db.execute(f'DELETE FROM "{t}_links" WHERE user_id = ?', (user_id,))

    def clear(self) -> None:
        """Drop every row but keep the links between memories, so that refilling the index
        (a reindex, a restore) gives the same memories their context back."""
        with self._transaction() as db:
            db.execute(f'DELETE FROM "{self.table}_docs"')
            db.execute(f'DELETE FROM "{self.table}_fts"')

    def _remove_rows(self, db: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> None:
        t = self.table
        by_user: dict[str, list[str]] = {}
        for user_id, memory_id in keys:
            by_user.setdefault(user_id, []).append(memory_id)
        found: list[tuple[int]] = []
        for user_id, ids in by_user.items():
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                found += db.execute(
                    f'SELECT rowid FROM "{t}_docs" WHERE user_id = ? AND memory_id IN '
                    f"({', '.join('?' * len(chunk))})",
                    [user_id, *chunk],
                ).fetchall()
        if found:
            db.executemany(f'DELETE FROM "{t}_fts" WHERE rowid = ?', found)
            db.executemany(f'DELETE FROM "{t}_docs" WHERE rowid = ?', found)

    # -- reads ---------------------------------------------------------------------------
    def search(self, text: str, flt: MemoryFilter, k: int) -> list[tuple[str, float]]:
        """The ``k`` best BM25 matches among ``flt``'s memories: ``(memory_id, score)``,
        best first, scores positive (higher is better)."""
        if self._source is not None:
            self.catch_up()
        terms = list(dict.fromkeys(content_terms(text)))[:MAX_QUERY_TERMS]
        if not terms or k <= 0 or flt.types == ():
            return []
        t = self.table
        # Terms are letters, digits and inner apostrophes: quoting them is enough.
        alternatives = " OR ".join(f'"{w}"' for w in terms)
        match = f'owner : "{_owner(flt.user_id)}" AND {{terms context date}} : ({alternatives})'
        where, params = _where(flt)
        weights = ", ".join(str(WEIGHTS[c]) for c in ("terms", "context", "date"))
        sql = (
            f'SELECT d.memory_id, bm25("{t}_fts", 0.0, {weights}) AS rank FROM "{t}_fts" '
            f'JOIN "{t}_docs" AS d ON d.rowid = "{t}_fts".rowid '
            f'WHERE "{t}_fts" MATCH ? AND {where} ORDER BY rank LIMIT ?'
        )
        with self._lock:
            rows = self._db.execute(sql, [match, *params, k]).fetchall()
        return [(memory_id, -float(rank)) for memory_id, rank in rows]

    def count(self, user_id: str | None = None) -> int:
        sql = f'SELECT count(*) FROM "{self.table}_docs"'
        with self._lock:
            if user_id is None:
                return int(self._db.execute(sql).fetchone()[0])
            return int(self._db.execute(sql + " WHERE user_id = ?", (user_id,)).fetchone()[0])

    def ids(self, user_id: str) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                f'SELECT memory_id FROM "{self.table}_docs" WHERE user_id = ?', (user_id,)
            )
            return {r[0] for r in rows}

    def signatures(self, user_id: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        """``{memory id: signature}`` of this user's rows, or of those of ``ids`` it has
        (see :func:`~llm_memory.keyword.rebuild.signature`)."""
        sql = f'SELECT memory_id, sig FROM "{self.table}_docs" WHERE user_id = ?'
        with self._lock:
            if ids is None:
                return {m: s or "" for m, s in self._db.execute(sql, (user_id,))}
            out: dict[str, str] = {}
            wanted = list(dict.fromkeys(ids))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = self._db.execute(
                    f"{sql} AND memory_id IN ({', '.join('?' * len(chunk))})", [user_id, *chunk]
                )
                out.update((m, s or "") for m, s in rows)
            return out

    def existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(user_id, memory_id)`` keys are indexed (the write path's duplicate
        check: the rows of this table are the store's memories)."""
        by_user: dict[str, list[str]] = {}
        for user_id, memory_id in keys:
            by_user.setdefault(user_id, []).append(memory_id)
        found: set[tuple[str, str]] = set()
        with self._lock:
            for user_id, ids in by_user.items():
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    rows = self._db.execute(
                        f'SELECT memory_id FROM "{self.table}_docs" WHERE user_id = ? AND '
                        f"memory_id IN ({', '.join('?' * len(chunk))})",
                        [user_id, *chunk],
                    )
                    found.update((user_id, memory_id) for (memory_id,) in rows)
        return found

    def users(self) -> set[str]:
        with self._lock:
            return {
                r[0] for r in self._db.execute(f'SELECT DISTINCT user_id FROM "{self.table}_docs"')
            }

    def has_links(self, user_id: str) -> bool:
        with self._lock:
            return self._has_links(self._db, user_id)

    def linked(self, user_id: str, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that have neighbour links here."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = self._db.execute(
                    f'SELECT DISTINCT memory_id FROM "{self.table}_links" WHERE user_id = ? '
                    f"AND memory_id IN ({', '.join('?' * len(chunk))})",
                    [user_id, *chunk],
                )
                found.update(m for (m,) in rows)
        return found

    def prune_links(self, user_id: str, keep: set[str]) -> None:
        """Drop the links of this user's memories that are not in ``keep``."""
        t = self.table
        with self._transaction() as db:
            stale = [
                (user_id, m)
                for (m,) in db.execute(
                    f'SELECT DISTINCT memory_id FROM "{t}_links" WHERE user_id = ?', (user_id,)
                )
                if m not in keep
            ]
            db.executemany(f'DELETE FROM "{t}_links" WHERE user_id = ? AND memory_id = ?', stale)

    # -- consistency with the store ------------------------------------------------------
    def sync(self, store: VectorStore) -> str | None:
        """Rebuild a new index from ``store``, or add, re-index and remove the rows that
        differ from it (by id and signature)."""
        self.store = store
        started = time.time()
        done = rebuilding.sync(self, store)
        self.synced_at = self.pulled_at = started
        return done

    @property
    def follows(self) -> bool:
        """Whether this index pulls other processes' writes from a shared store."""
        return self._source is not None

    def follow(self, source: ChangeSource, every: float) -> None:
        """Pull the memories written to ``source`` by other processes at most ``every``
        seconds before a search (the store is shared: a server other processes write).

        A search started at time t sees every write committed before t - ``every``:
        either the last pull began after it, or the search pulls first. Each pull re-reads
        :data:`OVERLAP` seconds before the previous one, for a write stamped before it
        committed or by a clock a little behind.
        """
        self._source = source
        self.every = every

    def catch_up(self, force: bool = False) -> int:
        """Pull what was written to the followed store since the last pull, if one is due;
        returns how many rows were (re-)indexed. Runs under the index lock, so a write or
        delete of this process (store first, then index) is never undone by a pull."""
        source = self._source
        if source is None:
            return 0
        with self._lock:
            now = time.time()
            if not force and now - self.pulled_at < self.every:
                return 0
            since = datetime.fromtimestamp(self.pulled_at - OVERLAP, UTC)
            changed = source.written_since(since)
            done = rebuilding.apply(self, changed)
            self.pulled_at = now
            return done

    def drop_missing(
        self, user_id: str, ids: Sequence[str], stored: Callable[[list[str]], set[str]]
    ) -> int:
        """Remove the rows of those of ``ids`` (which a read did not find in the store)
        that ``stored`` (a read of the store, by id) still does not find: memories
        deleted through another process. Returns how many rows went.

        The store is read again under the index lock: a write of this process puts the
        row in the store before it takes that lock to index it, so a memory written
        meanwhile is found and kept.
        """
        keys = [(user_id, i) for i in dict.fromkeys(ids)]
        with self._lock:
            held = [m for _, m in self.existing(keys)]
            if not held:
                return 0
            still = stored(held)
            gone = [m for m in held if m not in still]
            if gone:
                self.delete(user_id, gone)
            return len(gone)

    def freshness(self) -> dict[str, object]:
        """How current this index is with its store: when it was synced at open and, for
        a shared store it follows, how often it pulls, when it last did, and the bound on
        how long another process's write stays unfindable by keyword (``lag_bound_s``)."""
        out: dict[str, object] = {"synced_at": _iso(self.synced_at)}
        if self._source is not None:
            out.update(
                {
                    "follows": "shared store",
                    "pull_every_s": self.every,
                    "last_pull_at": _iso(self.pulled_at),
                    "lag_bound_s": self.every,
                }
            )
        return out

    def rebuild(self, store: VectorStore | None = None) -> int:
        """Re-index every memory of ``store`` (default: the store it was synced with)."""
        store = store or self.store
        if store is None:
            raise LLMMemoryError("rebuild() needs the store to read: pass it, or sync() first.")
        self.store = store
        return rebuilding.rebuild(self, store)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _where(flt: MemoryFilter) -> tuple[str, list[object]]:
    where, params = ["d.user_id = ?"], [flt.user_id]
    if flt.types is not None:
        where.append(f"d.type IN ({', '.join('?' * len(flt.types))})")
        params.extend(flt.types)
    if flt.since is not None:
        where.append("d.created_us >= ?")
        params.append(_us(flt.since))
    if flt.until is not None:
        where.append("d.created_us < ?")
        params.append(_us(flt.until))
    if flt.session_id is not None:
        where.append("d.session_id = ?")
        params.append(flt.session_id)
    return " AND ".join(where), params


def _iso(at: float) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds") if at else None


def _owner(user_id: str) -> str:
    return "u" + hashlib.sha1(user_id.encode("utf-8")).hexdigest()[:24]


def _us(when: datetime) -> int:
    return int(as_utc(when).timestamp() * 1_000_000)


def _date(item: MemoryItem) -> str:
    """The date words of an event (an episodic memory): ``"7 juli 2023"`` stemmed."""
    if item.type != "episodic":
        return ""
    when = item.created_at
    return " ".join(content_terms(f"{when.day} {when:%B} {when.year}"))
