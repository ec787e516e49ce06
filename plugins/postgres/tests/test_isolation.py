"""The isolation machine of llm-memory-testing on PostgreSQL: crafted user ids and memory
ids as bound parameters, a new table per example."""

from __future__ import annotations

import uuid

import pytest
from llm_memory_postgres.options import PostgresOptions
from llm_memory_postgres.store import PostgresStore
from llm_memory_testing.isolation import run_isolation

pytestmark = pytest.mark.server


@pytest.mark.parametrize("row_level_security", [False, True], ids=["filters", "policy"])
def test_no_user_touches_another_on_postgres(pg_dsn, row_level_security) -> None:
    def open_store() -> PostgresStore:
        options = PostgresOptions(row_level_security=row_level_security)
        return PostgresStore(pg_dsn, "iso" + uuid.uuid4().hex[:12], options)

    run = run_isolation(open_store, max_examples=6, steps=15)
    print(f"postgres ({'policy' if row_level_security else 'filters'}): {run}")
    assert run.examples >= 6
