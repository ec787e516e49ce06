"""The built-in ``memory`` backend passes the storage contract, in process and on a file."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from llm_memory.errors import DimensionMismatch, LLMMemoryError
from llm_memory.storage import MemoryFilter, VectorStore
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing import StorageContract
from llm_memory_testing.storage import INFO, item, put, vec


class TestInProcessMemoryStore(StorageContract):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()


class TestFileMemoryStore(StorageContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MemoryStore]:
        store = MemoryStore(tmp_path / "data" / "memory_store.json")
        yield store
        store.close()

    @pytest.fixture
    def reopen_store(self, tmp_path: Path) -> Callable[[VectorStore], VectorStore]:
        def reopen(store: VectorStore) -> VectorStore:
            store.close()
            return MemoryStore(tmp_path / "data" / "memory_store.json")

        return reopen


def test_in_process_store_is_not_persistent() -> None:
    store = MemoryStore()
    assert store.capabilities == frozenset()
    assert "in-process" in store.describe()["location"]


def test_file_store_describes_where_data_lives(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "m.json")
    put(store, [item(1)], [vec(1)])
    assert store.capabilities == frozenset({"persistent", "multiprocess"})
    assert store.describe() == {
        "backend": "memory",
        "location": str(tmp_path / "m.json"),
        "memories": 1,
    }


def test_registered_as_the_memory_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Selected by name, it keeps its data under vector_store_dir unless a path is given."""
    from llm_memory.plugins import build
    from llm_memory.settings import load_settings

    store = build("storage", "memory", load_settings(vector_store_dir=str(tmp_path / "vs")))
    assert isinstance(store, MemoryStore)
    assert store.path == tmp_path / "vs" / "memory_store.json"

    Path("llm-memory.toml").write_text(f'[memory]\npath = "{tmp_path / "toml.json"}"\n')
    assert build("storage", "memory", load_settings()).path == tmp_path / "toml.json"
    monkeypatch.setenv("MEMORY_STORE_PATH", str(tmp_path / "env.json"))
    assert build("storage", "memory", load_settings()).path == tmp_path / "env.json"


def test_a_second_instance_sees_the_first_ones_writes(tmp_path: Path) -> None:
    """Two stores on one file (two CLI processes) read each other's writes and never
    overwrite them."""
    first, second = MemoryStore(tmp_path / "m.json"), MemoryStore(tmp_path / "m.json")
    put(first, [item(1)], [vec(1)])
    put(second, [item(2)], [vec(0, 1)])
    assert first.count() == 2
    first.delete("alice", ["m2"])
    assert [m.id for m in second.list(MemoryFilter("alice"))] == ["m1"]
    assert second.embedding_info() == INFO


def _write_many(path: Path, first: int, ready: Any, go: Any) -> None:
    store = MemoryStore(path)
    ready.set()
    go.wait(30)
    for n in range(first, first + 20):
        store.upsert([item(n)], [vec(1, n)])


def test_concurrent_processes_do_not_lose_writes(tmp_path: Path) -> None:
    """Two processes writing one file at the same time: every write of both survives.

    Without the fcntl lock this loses writes in most runs (each process replaces the file
    with its own stale copy); the prefill widens the window between read and replace.
    """
    path = tmp_path / "m.json"
    put(MemoryStore(path), [item(n, "bob") for n in range(150)], [vec(1, n) for n in range(150)])
    context = multiprocessing.get_context("fork")  # no interpreter start-up: the test stays fast
    go = context.Event()
    readies = [context.Event(), context.Event()]
    writers = [
        context.Process(target=_write_many, args=(path, first, ready, go))
        for first, ready in zip((0, 1000), readies, strict=True)
    ]
    for writer in writers:
        writer.start()
    try:
        assert all(ready.wait(30) for ready in readies)
        go.set()
        for writer in writers:
            writer.join(60)
        assert [w.exitcode for w in writers] == [0, 0]
    finally:
        for writer in writers:
            if writer.is_alive():
                writer.kill()
    assert MemoryStore(path).count("alice") == 40
    assert MemoryStore(path).count("bob") == 150


def test_refused_write_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    store = MemoryStore(path)
    put(store, [item(1)], [vec(1)])
    before = path.read_bytes()
    with pytest.raises(DimensionMismatch):
        store.upsert([item(2)], [[1.0, 2.0]])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.json.lock"]
    assert json.loads(before)["memories"][0]["item"]["id"] == "m1"


def test_unreadable_file_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(
        LLMMemoryError, match=r"m\.json.*cannot be read.*restore it from a snapshot"
    ):
        MemoryStore(path).count()


def test_vectors_of_mixed_lengths_are_refused_without_an_embedder_record() -> None:
    store = MemoryStore()
    store.upsert([item(1)], [vec(1)])
    with pytest.raises(DimensionMismatch):
        store.upsert([item(2)], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="one vector per item"):
        store.upsert([item(3)], [])
    assert store.count() == 1


@pytest.mark.parametrize("on_file", [False, True])
def test_threads_share_one_store_safely(tmp_path: Path, on_file: bool) -> None:
    store = MemoryStore(tmp_path / "m.json" if on_file else None)
    store.set_embedding_info(INFO)

    def write(first: int) -> None:
        for n in range(first, first + 15):
            store.upsert([item(n)], [vec(1, n)])
            store.query(vec(1), MemoryFilter("alice"), k=3)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, (0, 100, 200, 300)))
    assert store.count("alice") == 60


def test_returned_memories_are_copies() -> None:
    """Changing a memory after writing it, or one that was read, does not change the store."""
    store = MemoryStore()
    written = item(1, metadata={"k": "v"})
    put(store, [written], [vec(1)])
    written.metadata["k"] = "changed"
    (read,) = store.get("alice", ["m1"])
    read.metadata["k"] = "changed too"
    assert store.get("alice", ["m1"])[0].metadata == {"k": "v"}
