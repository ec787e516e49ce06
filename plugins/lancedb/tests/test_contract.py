"""The core's storage contract, on a local directory and on S3 (a real moto server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore
from llm_memory_testing import StorageContract


def _reopener(
    open_store: Callable[[], LanceDBStore],
) -> Iterator[Callable[[LanceDBStore], LanceDBStore]]:
    opened: list[LanceDBStore] = []

    def reopen(store: LanceDBStore) -> LanceDBStore:
        store.close()
        opened.append(open_store())
        return opened[-1]

    yield reopen
    for store in opened:
        store.close()


class TestLocalLanceDB(StorageContract):
    """A LanceDB directory per test."""

    @pytest.fixture
    def store(self, tmp_path) -> Iterator[LanceDBStore]:
        store = LanceDBStore(tmp_path / "lancedb", "memories")
        yield store
        store.close()

    @pytest.fixture
    def reopen_store(self, tmp_path) -> Iterator[Callable[[LanceDBStore], LanceDBStore]]:
        yield from _reopener(lambda: LanceDBStore(tmp_path / "lancedb", "memories"))


@pytest.mark.server
class TestS3LanceDB(StorageContract):
    """An ``s3://bucket/<unique prefix>`` on the session's moto server, per test."""

    large_batch_size = 1_000  # every request is an HTTP round trip to moto

    @pytest.fixture
    def options(self, s3_options) -> LanceDBOptions:
        # One process, one store at a time: no need to re-check the latest version on
        # every read (test_concurrency.py covers many stores at the default of 0).
        return s3_options(read_consistency_seconds=None)

    @pytest.fixture
    def store(self, options) -> Iterator[LanceDBStore]:
        assert options.uri is not None
        store = LanceDBStore(options.uri, "memories", options)
        yield store
        store.close()
        cleanup = LanceDBStore(options.uri, "memories", options)  # the test may have reopened
        cleanup.clear()
        cleanup.close()

    @pytest.fixture
    def reopen_store(self, options) -> Iterator[Callable[[LanceDBStore], LanceDBStore]]:
        assert options.uri is not None
        uri = options.uri
        yield from _reopener(lambda: LanceDBStore(uri, "memories", options))
