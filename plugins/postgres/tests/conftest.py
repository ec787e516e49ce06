"""A real PostgreSQL with pgvector for the postgres tests: the `pgserver` wheel's binaries,
started in a temporary directory (Unix socket only, no TCP port) and stopped at the end."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator

import pytest
from llm_memory_postgres.options import PostgresOptions
from llm_memory_postgres.store import PostgresStore
from psycopg import sql

#: The role the stores connect as: not a superuser, so row-level security binds it
#: (a superuser bypasses every policy), the way an application's role is in production.
APP_ROLE = "llm_app"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """The superuser DSN of a PostgreSQL server for the whole session, with pgvector and
    an application role that may create schemas (trust authentication: loopback only)."""
    import pgserver
    import psycopg

    # Short path: the server's Unix socket lives in it (socket paths are limited to ~100 bytes).
    with tempfile.TemporaryDirectory(prefix="llmpg") as parent:
        server = pgserver.get_server(f"{parent}/data", cleanup_mode="stop")
        try:
            dsn = server.get_uri()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
                conn.execute(
                    sql.SQL("GRANT CREATE ON DATABASE postgres TO {}").format(
                        sql.Identifier(APP_ROLE)
                    )
                )
            yield dsn
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn) -> str:
    """The application role's DSN on the session's server."""
    return pg_admin_dsn.replace("postgresql://postgres:@", f"postgresql://{APP_ROLE}:@", 1)


@pytest.fixture
def pg_table() -> str:
    """A table name no other test uses: each test's store starts empty."""
    return "t" + uuid.uuid4().hex[:16]


@pytest.fixture
def open_store(pg_dsn, pg_table) -> Iterator[Callable[..., PostgresStore]]:
    """Opens stores on this test's table (closed at the end), with options overridden."""
    opened: list[PostgresStore] = []

    def open_(dsn: str | None = None, **overrides: object) -> PostgresStore:
        opened.append(PostgresStore(dsn or pg_dsn, pg_table, PostgresOptions(**overrides)))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()
