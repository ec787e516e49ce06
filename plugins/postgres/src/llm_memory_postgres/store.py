"""The Postgres vector store: one table per store, pgvector HNSW, psycopg 3 and a pool.

Every write is one transaction; upserts are ``INSERT ... ON CONFLICT (user_id, id)`` (one
pipelined ``executemany`` per batch, vectors as binary arrays) and access counts are
incremented in SQL, so many processes and machines may write one store.

The HNSW index is built once the table holds ``exact_search_below`` memories: before that
every user is searched exactly, so the index would only slow each insert (each one a graph
insertion: most of the ingest time when it was there from the start). It is built in the
background with ``CREATE INDEX CONCURRENTLY`` (writers go on; one process builds it).
Every statement filters by ``user_id`` with a bound parameter; with
``row_level_security`` each transaction also names its user in a session setting
(``set_config`` with a bound parameter) that the tables' policy compares every row with.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
import psycopg.conninfo
from llm_memory.errors import ConfigError, DimensionMismatch, LLMMemoryError, ValidationFailed
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore
from psycopg import sql
from psycopg_pool import ConnectionPool

from llm_memory_postgres import rows, schema
from llm_memory_postgres.options import PostgresOptions

__all__ = ["PostgresStore"]

logger = logging.getLogger(__name__)

_INSERT_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in (*rows.COLUMNS, "vector"))
_UPDATE_ALL = sql.SQL(", ").join(
    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in (*rows.COLUMNS[2:], "vector")
)


class PostgresStore(VectorStore):
    """Memories in ``<schema>.<table>`` with their vectors; keywords beside them."""

    name = "postgres"
    capabilities = frozenset({"persistent", "shared", "multiprocess", "transactions"})

    def __init__(self, dsn: str, table: str = "memories", options: PostgresOptions | None = None):
        self.options = options or PostgresOptions()
        self.dsn = dsn
        self.names = schema.Names(self.options.schema_name, table)
        self._dim: int | None = None
        self._atomic = threading.local()  # .conn: this thread's connection inside atomic()
        self._mutex = threading.Lock()
        self._indexed = False  # the HNSW index is known to be there and valid
        self._written = 0  # rows this process upserted since it last looked for the index
        self._builder: threading.Thread | None = None
        self._building: psycopg.Connection | None = None  # the builder's connection
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                schema.ensure_schema(conn, self.names, self.options.row_level_security)
        except psycopg.OperationalError as exc:
            raise ConfigError(
                f"Cannot connect to PostgreSQL at {self.location()} ({_first_line(exc)}); "
                "check POSTGRES_DSN and that the server is running."
            ) from exc
        timeout = f"{self.options.statement_timeout_ms}ms"
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=self.options.pool_size,
            kwargs={"autocommit": True},
            configure=lambda conn: _configure(conn, timeout),
            open=True,
            name=f"llm-memory-{table}",
        )
        self.ensure_index()

    @classmethod
    def from_options(cls, options: PostgresOptions, settings: Any) -> PostgresStore:
        if options.dsn is None or not options.dsn.get_secret_value():
            raise ConfigError(
                "POSTGRES_DSN is not set; set it to your server, e.g. "
                "postgresql://user:password@host:5432/dbname."
            )
        return cls(options.dsn.get_secret_value(), options.table or settings.collection, options)

    def own_keyword_index(self, settings: Any) -> Any:
        """The keyword side in this database (``{table}_kw``): every process sharing the
        store searches the same keyword rows."""
        from llm_memory_postgres.keyword import PostgresKeywordIndex

        return PostgresKeywordIndex(self)

    def own_history_log(self, settings: Any) -> Any:
        """The history in this database (``{table}_history``): every process and machine
        sharing the store records and reads the same history."""
        from llm_memory_postgres.history import PostgresHistoryLog

        return PostgresHistoryLog(self)

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction for every call this thread makes inside (the rows, their
        keyword rows and the history alike): other connections see none of it until it
        commits, and all of it after; an error rolls all of it back."""
        if getattr(self._atomic, "conn", None) is not None:
            yield  # nested: part of the outer one
            return
        try:
            with _errors(), self._pool.connection() as conn, conn.transaction():
                self._atomic.conn = conn
                try:
                    yield
                finally:
                    self._atomic.conn = None
        except BaseException:
            self._dim = None  # rolled back: the column may have its old type again
            raise

    @contextlib.contextmanager
    def transaction(self, user_id: str | None) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction acting for ``user_id`` (None: all users);
        inside :meth:`atomic`, a savepoint on its connection."""
        held = getattr(self._atomic, "conn", None)
        with (
            _errors(),
            contextlib.nullcontext(held) if held is not None else self._pool.connection() as conn,
            conn.transaction(),
        ):
            if self.options.row_level_security:
                self.act_as(conn, user_id)
            yield conn

    def act_as(self, conn: psycopg.Connection, user_id: str | None) -> None:
        """Name the transaction's user for the row-level security policy."""
        if not self.options.row_level_security:
            return
        conn.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
            [
                schema.USER_SETTING,
                user_id or "",
                schema.ALL_USERS_SETTING,
                "on" if user_id is None else "off",
            ],
        )

    # -- the embedder ------------------------------------------------------------------
    def embedding_info(self) -> EmbedderInfo | None:
        with self.transaction(None) as conn:
            raw = schema.read_meta(conn, self.names, "embedder")
        return None if raw is None else EmbedderInfo.model_validate_json(raw)

    def set_embedding_info(self, info: EmbedderInfo) -> None:
        with self.transaction(None) as conn:
            self._lock(conn)
            have = schema.vector_dimension(conn, self.names)
            if have != info.dimension:
                count = self._count(conn, None)
                if count:
                    raise DimensionMismatch(
                        f"Table {self.names.schema}.{self.names.table} holds {count} memories "
                        f"of {have} dimensions, not {info.dimension}. Run `llm-memory reindex` "
                        "(it clears the table first) or choose another table."
                    )
                schema.set_vector_dimension(conn, self.names, info.dimension, self._hnsw_now)
                self._indexed = False
            schema.write_meta(conn, self.names, "embedder", info.model_dump_json())
        self._dim = info.dimension

    def check_dimension(self, vectors: Sequence[Sequence[float]]) -> None:
        want = self._dimension()
        for vector in vectors:
            want = len(vector) if want is None else want
            if len(vector) != want:
                raise DimensionMismatch(
                    f"Table {self.names.schema}.{self.names.table} holds {want}-dimensional "
                    f"vectors; got a {len(vector)}-dimensional one. Run `llm-memory reindex` "
                    "or choose another table."
                )

    def _dimension(self) -> int | None:
        if self._dim is None:
            with self.transaction(None) as conn:
                self._dim = schema.vector_dimension(conn, self.names)
        return self._dim

    def _lock(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.names.lock_key])

    # -- the HNSW index ----------------------------------------------------------------
    @property
    def _hnsw_now(self) -> bool:
        """Whether the index is created with the column (every search uses it)."""
        return self.options.exact_search_below == 0

    def ensure_index(self, wait: bool = False) -> bool:
        """Start building the HNSW index in the background if the table has grown to
        ``exact_search_below`` memories and has none (``wait``: until it is built).
        Returns whether the index is there."""
        if self._indexed:
            return True
        with self.transaction(None) as conn:
            state = schema.hnsw_state(conn, self.names)
            dimension = schema.vector_dimension(conn, self.names)
            wanted = (
                state is not True
                and dimension is not None
                and dimension <= schema.HNSW_MAX_DIMENSION
                and self._count_to(conn, self.options.exact_search_below)
                >= self.options.exact_search_below
            )
        if state is True:
            self._indexed = True
            return True
        if not wanted:
            return False
        with self._mutex:
            if self._builder is None or not self._builder.is_alive():
                self._builder = threading.Thread(
                    target=self._build_index, name=f"llm-memory-hnsw-{self.names.table}",
                    daemon=True,
                )  # fmt: skip
                self._builder.start()
            builder = self._builder
        if wait:
            builder.join()
        return self._indexed

    def _build_index(self) -> None:
        """Build the index without blocking writers; one process at a time (an advisory
        lock), and an interrupted build (an invalid index) is dropped and done again."""
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                self._building = conn
                conn.execute("SELECT set_config('statement_timeout', '0', false)")
                key = self.names.lock_key + ":hnsw"
                got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key]).fetchone()
                if not got or not got[0]:
                    return  # another process is building it
                self.act_as(conn, None)
                state = schema.hnsw_state(conn, self.names)
                if state is False:
                    drop = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}")
                    conn.execute(drop.format(schema.hnsw_name(self.names)))
                if state is not True:
                    started = time.perf_counter()
                    conn.execute(schema.create_hnsw(self.names, concurrently=True))
                    logger.info(
                        "built the HNSW index of %s in %.1f s",
                        self.location(),
                        time.perf_counter() - started,
                    )
                self._indexed = schema.hnsw_state(conn, self.names) is True
        except psycopg.Error as exc:  # searches stay exact meanwhile; the next check retries
            logger.warning("building the HNSW index of %s failed: %s", self.location(), exc)
        finally:
            self._building = None

    def _count_to(self, conn: psycopg.Connection, limit: int) -> int:
        """The table's memories, counted up to ``limit``."""
        query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) s")
        return int(conn.execute(query.format(self.names.of()), [limit]).fetchone()[0])  # type: ignore[index]

    # -- writes ------------------------------------------------------------------------
    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        if not self.check_upsert(items, vectors):
            return
        for i in items:
            rows.refuse_nul(i.user_id, i.id, i.content, i.type, i.session_id)
        latest = {(i.user_id, i.id): n for n, i in enumerate(items)}  # the last one wins
        statement = sql.SQL(
            "INSERT INTO {t} ({cols}) VALUES ({marks}, {vector}) "
            "ON CONFLICT (user_id, id) DO UPDATE SET {update}"
        ).format(
            t=self.names.of(),
            cols=_INSERT_COLUMNS,
            marks=sql.SQL(", ").join(sql.Placeholder() * len(rows.COLUMNS)),
            vector=rows.VECTOR_MARK,
            update=_UPDATE_ALL,
        )
        if self._dim is None:
            self._type_vector_column(len(vectors[0]))
        with self.transaction(None) as conn:
            for user_id, numbers in _by_user(items, latest.values()).items():
                self.act_as(conn, user_id)
                params = [(*rows.to_row(items[n]), rows.vector_param(vectors[n])) for n in numbers]
                conn.cursor().executemany(statement, params)  # pipelined: one round trip
        self._written += len(items)
        if not self._indexed and self._written >= max(1, self.options.exact_search_below // 10):
            self._written = 0  # look again every tenth of the threshold written here
            self.ensure_index()

    def _type_vector_column(self, dimension: int) -> None:
        """Fix the column's length from the first write when no embedder was recorded."""
        with self.transaction(None) as conn:
            self._lock(conn)
            if schema.vector_dimension(conn, self.names) is None:
                schema.set_vector_dimension(conn, self.names, dimension, self._hnsw_now)
                self._indexed = False
        self._dim = None
        self.check_dimension([[0.0] * dimension])

    def update(self, items: Sequence[MemoryItem]) -> None:
        if not items:
            return
        for i in items:
            rows.refuse_nul(i.user_id, i.id, i.content, i.type, i.session_id)
        latest = {(i.user_id, i.id): n for n, i in enumerate(items)}
        sets = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in rows.COLUMNS[2:]
        )
        statement = sql.SQL("UPDATE {t} SET {sets} WHERE user_id = %s AND id = %s").format(
            t=self.names.of(), sets=sets
        )
        with self.transaction(None) as conn:
            for user_id, numbers in _by_user(items, latest.values()).items():
                self.act_as(conn, user_id)
                params = [(*rows.to_row(items[n])[2:], user_id, items[n].id) for n in numbers]
                conn.cursor().executemany(statement, params)

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        rows.refuse_nul(user_id, *ids)
        statement = sql.SQL("DELETE FROM {} WHERE user_id = %s AND id = ANY(%s)")
        with self.transaction(user_id) as conn:
            # The keyword rows go in the same transaction: no search finds a deleted memory.
            conn.execute(statement.format(self.names.of("_kw")), [user_id, list(set(ids))])
            cur = conn.execute(statement.format(self.names.of()), [user_id, list(set(ids))])
            return cur.rowcount

    def delete_user(self, user_id: str) -> int:
        rows.refuse_nul(user_id)
        statement = sql.SQL("DELETE FROM {} WHERE user_id = %s")
        with self.transaction(user_id) as conn:
            conn.execute(statement.format(self.names.of("_kw")), [user_id])
            return conn.execute(statement.format(self.names.of()), [user_id]).rowcount

    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None:
        if not accesses:
            return
        statement = sql.SQL(
            "UPDATE {} AS m SET access_count = m.access_count + %s, "
            "last_accessed_at = GREATEST(m.last_accessed_at, %s) WHERE user_id = %s AND id = %s"
        ).format(self.names.of())
        with self.transaction(None) as conn:
            by_user: dict[str, list[tuple[Any, ...]]] = {}
            for (user_id, memory_id), (count, at) in accesses.items():
                by_user.setdefault(user_id, []).append((count, at, user_id, memory_id))
            for user_id, params in by_user.items():
                self.act_as(conn, user_id)
                conn.cursor().executemany(statement, params)

    # -- reads -------------------------------------------------------------------------
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        if not ids:
            return []
        rows.refuse_nul(user_id, *ids)
        statement = sql.SQL("SELECT {} FROM {} WHERE user_id = %s AND id = ANY(%s)").format(
            rows.SELECT, self.names.of()
        )
        with self.transaction(user_id) as conn:
            found = conn.execute(statement, [user_id, list(set(ids))]).fetchall()
        by_id = {row[1]: rows.from_row(row) for row in found}
        return [by_id[i] for i in ids if i in by_id]

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        if flt.types == () or limit <= 0:
            return []
        rows.refuse_nul(flt.user_id, flt.session_id)
        clause, params = rows.where(flt)
        statement = sql.SQL(
            "SELECT {} FROM {} WHERE {} ORDER BY created_at, id LIMIT %s OFFSET %s"
        ).format(rows.SELECT, self.names.of(), clause)
        with self.transaction(flt.user_id) as conn:
            found = conn.execute(statement, [*params, limit, offset]).fetchall()
        return [rows.from_row(row) for row in found]

    def count(self, user_id: str | None = None) -> int:
        if user_id is not None:
            rows.refuse_nul(user_id)
        with self.transaction(user_id) as conn:
            return self._count(conn, user_id)

    def _count(self, conn: psycopg.Connection, user_id: str | None) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(self.names.of())
        if user_id is None:
            return int(conn.execute(query).fetchone()[0])  # type: ignore[index]
        query = query + sql.SQL(" WHERE user_id = %s")
        return int(conn.execute(query, [user_id]).fetchone()[0])  # type: ignore[index]

    def users(self) -> list[str]:
        query = sql.SQL("SELECT DISTINCT user_id FROM {} ORDER BY user_id").format(self.names.of())
        with self.transaction(None) as conn:
            return [row[0] for row in conn.execute(query)]

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        if k <= 0 or flt.types == ():
            return []
        rows.refuse_nul(flt.user_id, flt.session_id)
        if self._dimension() is None:
            return []
        self.check_dimension([vector])
        clause, params = rows.where(flt)
        text = rows.vector_text(vector)
        with self.transaction(flt.user_id) as conn:
            exact = self._small(conn, flt.user_id)
            if not exact and not self._indexed:
                self.ensure_index()  # a user this large: the table needs its index
            if not exact:
                ef = str(min(1000, max(self.options.ef_search, k)))
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [ef])
            found = conn.execute(self._nearest(clause, exact), [text, *params, text, k]).fetchall()
            if not exact and len(found) < k:  # HNSW filters after its candidates: retry exact
                found = conn.execute(self._nearest(clause, True), [text, *params, text, k])
                found = found.fetchall()
        return [StoreHit(rows.from_row(row), float(row[-1])) for row in found]

    def _small(self, conn: psycopg.Connection, user_id: str) -> bool:
        """Whether this user has fewer than ``exact_search_below`` memories (counted up to it)."""
        limit = self.options.exact_search_below
        query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE user_id = %s LIMIT %s) s")
        row = conn.execute(query.format(self.names.of()), [user_id, limit]).fetchone()
        return int(row[0]) < limit  # type: ignore[index]

    def _nearest(self, clause: sql.Composable, exact: bool) -> sql.Composable:
        # `+ 0` hides the distance from the planner, which then cannot use the HNSW index.
        order = sql.SQL("(vector <=> %s::vector) + 0" if exact else "vector <=> %s::vector")
        return sql.SQL(
            "SELECT {cols}, 1 - (vector <=> %s::vector) FROM {t} WHERE {where} "
            "ORDER BY {order}, id LIMIT %s"
        ).format(cols=rows.SELECT, t=self.names.of(), where=clause, order=order)

    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        if not ids:
            return {}
        rows.refuse_nul(user_id, *ids)
        statement = sql.SQL(
            "SELECT id, vector::text FROM {} WHERE user_id = %s AND id = ANY(%s)"
        ).format(self.names.of())
        with self.transaction(user_id) as conn:
            found = conn.execute(statement, [user_id, list(set(ids))]).fetchall()
        return {memory_id: rows.parse_vector(text) for memory_id, text in found}

    # -- housekeeping ------------------------------------------------------------------
    def clear(self) -> None:
        """Empty every table (keeping the links between turns, as the core's index does)
        and untype the vector column, so that a reindex may change the dimension."""
        self._stop_build()  # it would hold the ALTER TABLE up (or deadlock with it)
        with self.transaction(None) as conn:
            self._lock(conn)
            conn.execute(sql.SQL("DELETE FROM {}").format(self.names.of()))
            conn.execute(sql.SQL("DELETE FROM {}").format(self.names.of("_kw")))
            schema.set_vector_dimension(conn, self.names, None)
            schema.write_meta(conn, self.names, "embedder", None)
        self._dim = None
        self._indexed = False

    def location(self) -> str:
        return f"{_masked(self.dsn)}#{self.names.schema}.{self.names.table}"

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "location": self.location(),
            "memories": self.count(),
            "row_level_security": self.options.row_level_security,
            "hnsw_index": self._index_state(),
        }

    def _index_state(self) -> str:
        with self.transaction(None) as conn:
            state = schema.hnsw_state(conn, self.names)
        building = self._builder is not None and self._builder.is_alive()
        if state is True:
            return "built"
        if building or state is False:
            return "building"
        return f"from {self.options.exact_search_below:,} memories"

    def _stop_build(self) -> None:
        """Cancel a build in progress (the next check drops the invalid index it leaves and
        builds it again)."""
        building, builder = self._building, self._builder
        if builder is not None and builder.is_alive():
            if building is not None:
                with contextlib.suppress(psycopg.Error):
                    building.cancel_safe()
            builder.join(timeout=10)

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for a build this process started; False if it still runs after ``timeout``."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    def close(self) -> None:
        # A build in progress is left to finish: it has its own connection, and the server
        # completes it even if this process exits (a CLI writing one memory per process
        # would otherwise never see its table indexed).
        self._pool.close()


def _configure(conn: psycopg.Connection, timeout: str) -> None:
    rows.register(conn)
    conn.execute("SELECT set_config('statement_timeout', %s, false)", [timeout])


def _by_user(items: Sequence[MemoryItem], numbers: Any) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for n in numbers:
        grouped.setdefault(items[n].user_id, []).append(n)
    return grouped


def _masked(dsn: str) -> str:
    """The DSN without its password (``location()`` and errors name the server by it)."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "postgresql://<unparsable DSN>"
    user, host = parts.get("user") or "", parts.get("host") or "localhost"
    port, db = parts.get("port"), parts.get("dbname") or ""
    return f"postgresql://{user}{'@' if user else ''}{host}{f':{port}' if port else ''}/{db}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Database errors a person can act on, in one line."""
    try:
        yield
    except psycopg.errors.DataException as exc:
        if "dimensions" in str(exc):  # another process re-typed the column
            raise DimensionMismatch(f"{_first_line(exc)}; run `llm-memory reindex`.") from exc
        raise ValidationFailed(f"PostgreSQL refused a value: {_first_line(exc)}") from exc
    except psycopg.errors.QueryCanceled as exc:
        raise LLMMemoryError(
            f"A PostgreSQL statement ran past POSTGRES_STATEMENT_TIMEOUT_MS ({_first_line(exc)})."
        ) from exc
    except psycopg.OperationalError as exc:
        raise LLMMemoryError(
            f"PostgreSQL is unreachable ({_first_line(exc)}); check the server and POSTGRES_DSN."
        ) from exc
