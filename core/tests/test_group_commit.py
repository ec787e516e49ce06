"""Group commit: concurrent writes from threads share one store batch, each caller its own
result or its own error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from llm_memory import MemoryManager
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import LLMMemoryError, ValidationFailed
from llm_memory.keyword.sqlite import SqliteKeywordIndex
from llm_memory.storage.memory import MemoryStore


class SlowStore(MemoryStore):
    """Counts its calls; an upsert may be held until the test lets it go, or fail."""

    def __init__(self) -> None:
        super().__init__()
        self.upserts: list[int] = []
        self.get_many_calls: list[list[tuple[str, str]]] = []
        self.hold: Callable[[], None] | None = None

    def upsert(self, items, vectors) -> None:
        self.upserts.append(len(items))
        hold, self.hold = self.hold, None
        if hold is not None:
            hold()
        super().upsert(items, vectors)

    def get_many(self, keys):
        self.get_many_calls.append(list(keys))
        return super().get_many(keys)


@pytest.fixture
def store() -> SlowStore:
    return SlowStore()


@pytest.fixture
def memory(store) -> MemoryManager:
    return MemoryManager(store, HashEmbedder(dimension=64), keyword_index=SqliteKeywordIndex())


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(n)`` in ``count`` threads started together; each one's return or error."""
    out: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            out[n] = work(n)
        except Exception as exc:
            out[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return out


def queued(memory: MemoryManager, calls: int) -> Callable[[], None]:
    """A hold for the first upsert: it returns once ``calls`` others wait for the next batch."""

    def hold() -> None:
        deadline = time.monotonic() + 10
        while len(memory._group._open) < calls and time.monotonic() < deadline:
            time.sleep(0.005)

    return hold


def test_concurrent_writes_are_merged_and_each_caller_gets_its_own(memory, store) -> None:
    store.hold = queued(memory, 15)
    results = in_threads(16, lambda n: memory.write_memory(f"fact number {n}", f"u{n % 4}"))
    for n, item in enumerate(results):
        assert item.content == f"fact number {n}" and item.user_id == f"u{n % 4}"
    assert sum(memory.store.count(f"u{u}") for u in range(4)) == 16
    # The first write went alone (nothing to wait for); the 15 behind it went together.
    assert store.upserts == [1, 15]
    assert memory._group.batches == 2


def test_an_invalid_call_fails_alone(memory, store) -> None:
    store.hold = queued(memory, 6)

    def work(n: int) -> Any:
        if n == 3:
            return memory.write_memory("bad importance", "u", importance=7.0)
        return memory.write_memory(f"good {n}", "u")

    results = in_threads(8, work)
    assert isinstance(results[3], ValidationFailed)
    assert "importance" in str(results[3])
    assert sorted(r.content for n, r in enumerate(results) if n != 3) == sorted(
        f"good {n}" for n in range(8) if n != 3
    )
    assert memory.store.count("u") == 7


def test_the_same_content_from_many_threads_is_stored_once(memory, store) -> None:
    store.hold = queued(memory, 11)
    results = in_threads(
        12, lambda n: memory.write_memory("I live in Oslo", "alice", importance=n / 20)
    )
    assert len({r.id for r in results}) == 1
    (stored,) = memory.list("alice")
    assert stored.content == "I live in Oslo"
    events = [e.kind for e in memory.history(stored.id, "alice")]
    assert events.count("created") == 1 and events.count("refreshed") == 11
    # Then a later batch refreshes it again instead of storing it twice.
    memory.write_memories([{"user_id": "alice", "content": "I live in Oslo", "importance": 1.0}])
    (again,) = memory.list("alice")
    assert again.id == stored.id and again.importance == 1.0


def test_a_failing_commit_fails_exactly_its_batch(memory, store) -> None:
    def hold_then_fail() -> None:
        queued(memory, 5)()
        raise LLMMemoryError("disk full")

    store.hold = hold_then_fail

    def work(n: int) -> Any:
        if n == 0:
            return memory.write_memory("written first", "u")
        while not store.upserts:  # the first one is committing, alone
            time.sleep(0.001)
        return memory.write_memory(f"behind it {n}", "u")

    results = in_threads(6, work)
    assert isinstance(results[0], LLMMemoryError)
    assert [r.content for r in results[1:]] == [f"behind it {n}" for n in range(1, 6)]
    assert sorted(m.content for m in memory.list("u")) == [f"behind it {n}" for n in range(1, 6)]
    assert memory.memories.known([("u", results[1].id), ("u", "x")]) == [("u", results[1].id)]


def test_duplicates_are_found_in_the_keyword_key_table(memory, store) -> None:
    memory.write_memories([{"user_id": "u", "content": f"new {n}"} for n in range(20)])
    assert store.get_many_calls == []  # nothing was stored yet: no store read at all
    memory.write_memories(
        [{"user_id": "u", "content": "new 3"}, {"user_id": "u", "content": "newer"}]
    )
    assert store.get_many_calls == [[("u", memory.list("u")[3].id)]]  # only the one that is


def test_without_a_keyword_side_the_store_is_asked(store) -> None:
    memory = MemoryManager(store, HashEmbedder(dimension=64))
    first = memory.write_memory("kept once", "u", importance=0.2)
    again = memory.write_memory("kept once", "u", importance=0.8)
    assert again.id == first.id and again.importance == 0.8
    assert memory.store.count("u") == 1


def test_a_write_inside_the_writer_lock_does_not_wait_for_itself(memory) -> None:
    with memory.memories.writing():
        item = memory.write_memory("written while holding the lock", "u")
    assert memory.get(item.id, "u").content == item.content


def test_the_writer_lock_knows_its_owner_thread(memory) -> None:
    """``writer_held`` is true in the holding thread only, through nesting, and false
    after release (no private RLock API)."""
    seen: list[bool] = []
    other = threading.Thread(target=lambda: seen.append(memory.memories.writer_held()))
    assert not memory.memories.writer_held()
    with memory.memories.writing():
        with memory.memories.writing():
            assert memory.memories.writer_held()
        assert memory.memories.writer_held()
        other.start()
        other.join()
    assert seen == [False]
    assert not memory.memories.writer_held()
