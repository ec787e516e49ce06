"""The tables, their versioned migrations, and the row-level security policy.

Every name is a ``psycopg.sql.Identifier``; no statement text is ever built from a value.
The schema is created on first use, under a transaction-scoped advisory lock so that two
processes opening a new store at once do not race. ``{table}_meta`` records the schema
version (``MIGRATIONS`` is the path from any older version to this one) and the embedder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from llm_memory.errors import ConfigError
from psycopg import sql

__all__ = ["MIGRATIONS", "Names", "create_hnsw", "ensure_schema", "hnsw_state", "vector_dimension"]

#: pgvector's HNSW index takes vectors up to this long; longer ones are searched exactly.
HNSW_MAX_DIMENSION = 2000
#: The session setting the row-level security policy compares ``user_id`` with.
USER_SETTING = "llm_memory.user_id"
#: Set to ``on`` by the few statements that span users (counts, user lists, clear).
ALL_USERS_SETTING = "llm_memory.all_users"
_MAX_NAME = 48  # PostgreSQL truncates names past 63 bytes; suffixes need the rest


@dataclass(frozen=True)
class Names:
    """Identifiers of one store's tables and indexes."""

    schema: str
    table: str

    def __post_init__(self) -> None:
        for label, name in (("schema_name", self.schema), ("table", self.table)):
            if not name or len(name.encode()) > _MAX_NAME or "\x00" in name:
                raise ConfigError(
                    f"Postgres {label} {name!r} must be 1-{_MAX_NAME} bytes without NUL; "
                    f"set POSTGRES_{label.upper()} to a shorter name."
                )

    def of(self, suffix: str = "") -> sql.Composable:
        """``schema.table`` or ``schema.table_suffix``, quoted."""
        return sql.Identifier(self.schema, self.table + suffix)

    def index(self, suffix: str) -> sql.Identifier:
        return sql.Identifier(f"{self.table}_{suffix}")

    @property
    def lock_key(self) -> str:
        return f"llm_memory:{self.schema}.{self.table}"


def _v1(n: Names) -> list[sql.Composable]:
    """Version 1: memories (vector column untyped until the embedder is known), the
    keyword side (one row per memory with its tsvector; links between turns) and the
    change history."""
    return [
        sql.SQL(
            'CREATE TABLE {t} (user_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, '
            "content text NOT NULL, type text NOT NULL, importance double precision NOT NULL, "
            "created_at timestamptz NOT NULL, updated_at timestamptz, "
            "last_accessed_at timestamptz, access_count bigint NOT NULL DEFAULT 0, "
            "session_id text, metadata text NOT NULL, vector vector, PRIMARY KEY (user_id, id))"
        ).format(t=n.of()),
        sql.SQL("CREATE INDEX {i} ON {t} (user_id, created_at, id)").format(
            i=n.index("by_time"), t=n.of()
        ),
        sql.SQL(
            'CREATE TABLE {k} (user_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, '
            "type text NOT NULL, created_at timestamptz NOT NULL, session_id text, "
            "terms text NOT NULL, context text NOT NULL DEFAULT '', date text NOT NULL, "
            # The searched document: the three parts, weighted A, B, C (BM25 weighs them).
            "doc tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('simple'::regconfig, terms), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, context), 'B') || "
            "setweight(to_tsvector('simple'::regconfig, date), 'C')) STORED, "
            # Its length in terms (BM25's document length).
            "len integer GENERATED ALWAYS AS (cardinality(array_remove(regexp_split_to_array("
            "terms || ' ' || context || ' ' || date, ' '), ''))) STORED, "
            "PRIMARY KEY (user_id, id))"
        ).format(k=n.of("_kw")),
        sql.SQL("CREATE INDEX {i} ON {k} USING gin (doc)").format(
            i=n.index("kw_doc"), k=n.of("_kw")
        ),
        sql.SQL(
            'CREATE TABLE {l} (user_id text COLLATE "C" NOT NULL, '
            'memory_id text COLLATE "C" NOT NULL, neighbour_id text COLLATE "C" NOT NULL, '
            "PRIMARY KEY (user_id, memory_id, neighbour_id))"
        ).format(l=n.of("_links")),
        sql.SQL("CREATE INDEX {i} ON {l} (user_id, neighbour_id)").format(
            i=n.index("links_back"), l=n.of("_links")
        ),
        sql.SQL(
            'CREATE TABLE {h} (user_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, '
            'memory_id text COLLATE "C" NOT NULL, kind text NOT NULL, '
            "timestamp timestamptz NOT NULL, related_id text, event text NOT NULL, "
            "PRIMARY KEY (user_id, id))"
        ).format(h=n.of("_history")),
        sql.SQL("CREATE INDEX {i} ON {h} (user_id, memory_id)").format(
            i=n.index("history_by_memory"), h=n.of("_history")
        ),
    ]


def _v2(n: Names) -> list[sql.Composable]:
    """Version 2: the keyword index without GIN's pending list (``fastupdate = off``).
    With it, rows written since the last vacuum sat in an unsorted list that every keyword
    search scanned: after a bulk ingest, retrieve was slower until autovacuum came by, and
    a busy store paid it all the time. Each insert now updates the index."""
    return [
        sql.SQL("ALTER INDEX {} SET (fastupdate = off)").format(
            sql.Identifier(n.schema, f"{n.table}_kw_doc")
        ),
        # What the pending list held goes into the index now (it is never read again).
        sql.SQL(
            "SELECT gin_clean_pending_list(c.oid::regclass) FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = {} AND c.relname = {}"
        ).format(sql.Literal(n.schema), sql.Literal(f"{n.table}_kw_doc")),
    ]


#: ``MIGRATIONS[v]`` takes a store from version ``v`` to ``v + 1``.
MIGRATIONS: list[Callable[[Names], list[sql.Composable]]] = [_v1, _v2]
GUARDED = ("", "_kw", "_links", "_history")  # the tables the row-level security policy guards


def ensure_schema(conn: psycopg.Connection, names: Names, rls: bool) -> None:
    """Create or migrate the tables (one transaction), and apply or lift the policy."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [names.lock_key])
        _ensure_extension(conn)
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [names.schema])
        if found.fetchone() is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(names.schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text)").format(
                names.of("_meta")
            )
        )
        version = int(read_meta(conn, names, "schema_version") or 0)
        if version > len(MIGRATIONS):
            raise ConfigError(
                f"Postgres table {names.schema}.{names.table} is at schema version {version}; "
                f"this llm-memory-postgres knows {len(MIGRATIONS)}. Upgrade llm-memory-postgres."
            )
        for step in MIGRATIONS[version:]:
            for statement in step(names):
                conn.execute(statement)
        write_meta(conn, names, "schema_version", str(len(MIGRATIONS)))
        for suffix in GUARDED:
            _apply_policy(conn, names, suffix, rls)


def _ensure_extension(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(
            "The pgvector extension is not installed in this database and this role may not "
            "install it; run `CREATE EXTENSION vector;` once as a superuser (or the owner)."
        ) from exc
    except psycopg.errors.FeatureNotSupported as exc:  # pragma: no cover - server-specific
        raise ConfigError(
            "This PostgreSQL server has no pgvector extension; install pgvector on it."
        ) from exc


def _apply_policy(conn: psycopg.Connection, names: Names, suffix: str, rls: bool) -> None:
    table = names.of(suffix)
    policy = names.index(f"{suffix.strip('_') or 'rows'}_by_user")
    conn.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(policy, table))
    if not rls:
        conn.execute(sql.SQL("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY").format(table))
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE ROW LEVEL SECURITY").format(table))
        return
    conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
    # FORCE: the policy binds the table's owner too (the role the store connects as).
    conn.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(table))
    conn.execute(
        sql.SQL(
            "CREATE POLICY {} ON {} USING (user_id = current_setting({u}, true) "
            "OR current_setting({a}, true) = 'on') "
            "WITH CHECK (user_id = current_setting({u}, true) "
            "OR current_setting({a}, true) = 'on')"
        ).format(policy, table, u=sql.Literal(USER_SETTING), a=sql.Literal(ALL_USERS_SETTING))
    )


def read_meta(conn: psycopg.Connection, names: Names, key: str) -> str | None:
    query = sql.SQL("SELECT value FROM {} WHERE key = %s").format(names.of("_meta"))
    row = conn.execute(query, [key]).fetchone()
    return None if row is None else row[0]


def write_meta(conn: psycopg.Connection, names: Names, key: str, value: str | None) -> None:
    meta = names.of("_meta")
    if value is None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE key = %s").format(meta), [key])
        return
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ).format(meta),
        [key, value],
    )


def vector_dimension(conn: psycopg.Connection, names: Names) -> int | None:
    """The typed length of the vector column, or None while it is untyped (no embedder)."""
    row = conn.execute(
        "SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = %s AND c.relname = %s AND a.attname = 'vector'",
        [names.schema, names.table],
    ).fetchone()
    return None if row is None or row[0] is None or row[0] < 1 else int(row[0])


def set_vector_dimension(
    conn: psycopg.Connection, names: Names, dimension: int | None, hnsw: bool = True
) -> None:
    """Type the (empty) vector column as ``vector(dimension)``, with an HNSW cosine index
    if ``hnsw`` (else the store builds it later, :func:`create_hnsw`), or untype it (None)
    so that a reindex may choose another dimension."""
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(hnsw_name(names)))
    kind = sql.SQL("vector") if dimension is None else sql.SQL("vector({})").format(dimension)
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN vector TYPE {}").format(names.of(), kind))
    if hnsw and dimension is not None and dimension <= HNSW_MAX_DIMENSION:
        conn.execute(create_hnsw(names, concurrently=False))


def hnsw_name(names: Names) -> sql.Identifier:
    return sql.Identifier(names.schema, f"{names.table}_hnsw")


def create_hnsw(names: Names, concurrently: bool) -> sql.Composable:
    """The HNSW cosine index on the vector column; ``concurrently``: without blocking
    writers (outside a transaction; an interrupted build leaves an invalid index)."""
    return sql.SQL(
        "CREATE INDEX {how}IF NOT EXISTS {i} ON {t} USING hnsw (vector vector_cosine_ops)"
    ).format(
        how=sql.SQL("CONCURRENTLY " if concurrently else ""),
        i=names.index("hnsw"),
        t=names.of(),
    )


def hnsw_state(conn: psycopg.Connection, names: Names) -> bool | None:
    """Whether the HNSW index is there and valid (True), there but invalid, an interrupted
    concurrent build (False), or not there (None)."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relname = %s",
        [names.schema, f"{names.table}_hnsw"],
    ).fetchone()
    return None if row is None else bool(row[0])
