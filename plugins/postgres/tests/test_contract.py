"""The core's storage contract on a real PostgreSQL, with and without row-level security."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from llm_memory_postgres.store import PostgresStore
from llm_memory_testing import StorageContract

pytestmark = pytest.mark.server


class TestPostgres(StorageContract):
    """A table per test on the session's server."""

    @pytest.fixture
    def store(self, open_store) -> Iterator[PostgresStore]:
        yield open_store()

    @pytest.fixture
    def reopen_store(self, open_store) -> Callable[[PostgresStore], PostgresStore]:
        def reopen(store: PostgresStore) -> PostgresStore:
            store.close()
            return open_store()

        return reopen


class TestPostgresRowLevelSecurity(TestPostgres):
    """The same contract with the policy on: every statement names its user."""

    @pytest.fixture
    def store(self, open_store) -> Iterator[PostgresStore]:
        yield open_store(row_level_security=True)

    @pytest.fixture
    def reopen_store(self, open_store) -> Callable[[PostgresStore], PostgresStore]:
        def reopen(store: PostgresStore) -> PostgresStore:
            store.close()
            return open_store(row_level_security=True)

        return reopen


class TestPostgresHNSW(TestPostgres):
    """The same contract with every search through the HNSW index (``exact_search_below=0``):
    a filtered search that the index leaves short of ``k`` is redone exactly."""

    @pytest.fixture
    def store(self, open_store) -> Iterator[PostgresStore]:
        yield open_store(exact_search_below=0)

    @pytest.fixture
    def reopen_store(self, open_store) -> Callable[[PostgresStore], PostgresStore]:
        def reopen(store: PostgresStore) -> PostgresStore:
            store.close()
            return open_store(exact_search_below=0)

        return reopen
