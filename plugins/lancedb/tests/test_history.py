"""The history table beside the memories table passes the history contract, locally and on
S3; on S3 (a shared store) the manager records there, and every process sees it."""

from __future__ import annotations

import lancedb
import pytest
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory_lancedb.history import LanceHistoryLog
from llm_memory_lancedb.store import LanceDBStore
from llm_memory_testing import HistoryContract


def _log(path) -> LanceHistoryLog:
    return LanceHistoryLog(lancedb.connect(str(path)), "memories_history", lambda write: write())


class TestLanceHistoryLog(HistoryContract):
    @pytest.fixture
    def log(self, tmp_path):
        yield _log(tmp_path / "db")

    @pytest.fixture
    def reopen_log(self, tmp_path):
        def reopen(log):
            log.close()
            return _log(tmp_path / "db")

        return reopen


def test_a_local_table_leaves_history_to_the_core(tmp_path):
    store = LanceDBStore(tmp_path / "db")
    assert store.own_history_log(load_settings()) is None
    store.close()


def test_on_s3_every_process_shares_the_history(s3_options):
    options = s3_options()

    def manager() -> MemoryManager:
        store = LanceDBStore(options.uri, "memories", options)
        log = store.own_history_log(load_settings())
        assert isinstance(log, LanceHistoryLog)
        return MemoryManager(store, HashEmbedder(dimension=64), history_log=log)

    with manager() as one, manager() as two:
        item = one.write_memory("The user likes tea", "ada", actor="one")
        two.update_memory(item.id, "ada", content="The user likes mint tea", actor="two")
        assert [(e.kind, e.actor) for e in one.history(item.id, "ada")] == [
            ("created", "one"),
            ("updated", "two"),
        ]
        one.forget_user("ada")
        assert two.history_log.users() == []
