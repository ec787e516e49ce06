"""The history collection on a Chroma server passes the history contract, and processes
sharing the server share the history."""

from __future__ import annotations

import uuid

import pytest
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory_chroma.history import ChromaHistoryLog
from llm_memory_chroma.store import ChromaStore
from llm_memory_testing import HistoryContract


class TestChromaHistoryLog(HistoryContract):
    @pytest.fixture
    def log(self, chroma_http):
        store = ChromaStore(
            f"history-{uuid.uuid4().hex[:12]}", host=chroma_http.host, port=chroma_http.port
        )
        log = store.own_history_log(load_settings())
        assert isinstance(log, ChromaHistoryLog)
        yield log
        store._client.delete_collection(log.name)  # leave the shared server as we found it
        store._client.delete_collection(store.collection_name)
        store.close()


def test_embedded_chroma_leaves_history_to_the_core(tmp_path):
    store = ChromaStore("memories", path=tmp_path / "db")
    assert store.own_history_log(load_settings()) is None
    store.close()


def test_processes_sharing_a_server_share_the_history(chroma_http):
    name = f"shared-{uuid.uuid4().hex[:12]}"

    def manager() -> MemoryManager:
        store = ChromaStore(name, host=chroma_http.host, port=chroma_http.port)
        return MemoryManager(store, HashEmbedder(dimension=64), settings=load_settings())

    with manager() as one, manager() as two:
        item = one.write_memory("The user likes tea", "ada", actor="one")
        two.update_memory(item.id, "ada", content="The user likes mint tea", actor="two")
        assert [(e.kind, e.actor) for e in one.history(item.id, "ada")] == [
            ("created", "one"),
            ("updated", "two"),
        ]
        one.forget_user("ada")
        assert two.history_log.users() == []
        one.store._client.delete_collection(f"{name}_history")
        one.store._client.delete_collection(name)
