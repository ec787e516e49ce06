"""Settings of the ``postgres`` storage backend (``POSTGRES_*`` or the ``[postgres]`` table).

Only pydantic here: the hook module imports this, and must stay fast to load.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PostgresOptions"]


class PostgresOptions(BaseSettings):
    """Which server and where in it, how many connections, and how rows are guarded."""

    model_config = SettingsConfigDict(env_prefix="POSTGRES_")

    dsn: SecretStr | None = Field(
        None,
        description="libpq connection string or postgresql:// URI of the server (required).",
    )
    schema_name: str = Field(
        "llm_memory", description="PostgreSQL schema holding the tables; created on first use."
    )
    table: str | None = Field(None, description="Table name; default: the `collection` setting.")
    pool_size: int = Field(10, ge=1, description="Most connections each process keeps open.")
    statement_timeout_ms: int = Field(
        30_000, ge=0, description="Longest a statement may run before it is cancelled; 0 never."
    )
    row_level_security: bool = Field(
        False,
        description="Guard the tables with a row-level security policy on the session's user, "
        "so a query missing its user filter still returns only that user's rows.",
    )
    exact_search_below: int = Field(
        20_000,
        ge=0,
        description="A user with fewer memories is searched exactly (no HNSW index): exact "
        "and faster on small sets. The HNSW index is built (in the background, without "
        "blocking writers) once the table holds this many memories; 0: from the start.",
    )
    ef_search: int = Field(
        100, ge=1, description="HNSW candidates per search (hnsw.ef_search; at least k)."
    )
