"""The core's storage contract, run against embedded Chroma and against a real Chroma server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from llm_memory_chroma.store import ChromaStore
from llm_memory_testing import StorageContract


class TestEmbeddedChroma(StorageContract):
    """A ``PersistentClient`` directory per test."""

    @pytest.fixture
    def store(self, tmp_path) -> Iterator[ChromaStore]:
        store = ChromaStore("memories", path=tmp_path / "chroma_db")
        yield store
        store.close()

    @pytest.fixture
    def reopen_store(self, tmp_path) -> Iterator:
        opened: list[ChromaStore] = []

        def reopen(store: ChromaStore) -> ChromaStore:
            store.close()
            opened.append(ChromaStore("memories", path=tmp_path / "chroma_db"))
            return opened[-1]

        yield reopen
        for store in opened:
            store.close()


class TestChromaServer(StorageContract):
    """``chroma run`` on loopback (the session's ``chroma_http``); a fresh collection per test."""

    @pytest.fixture
    def collection(self) -> str:
        return f"contract-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def store(self, chroma_http, collection) -> Iterator[ChromaStore]:
        store = ChromaStore(collection, host=chroma_http.host, port=chroma_http.port)
        yield store
        store._client.delete_collection(collection)  # leave the shared server as we found it
        store.close()

    @pytest.fixture
    def reopen_store(self, chroma_http, collection) -> Iterator:
        opened: list[ChromaStore] = []

        def reopen(store: ChromaStore) -> ChromaStore:
            store.close()
            opened.append(ChromaStore(collection, host=chroma_http.host, port=chroma_http.port))
            return opened[-1]

        yield reopen
        for store in opened:
            store.close()
