"""No deadlock: writes, searches, forgets, updates, snapshots and restores from many threads
at once all finish (the store's locks, the keyword side, the history, group commit, the
access tracker and the restore journal all taken together)."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from llm_memory.manager import MemoryManager

ROUNDS = 12
#: Generous: the whole test takes a few seconds; a deadlock never finishes.
JOIN_TIMEOUT = 120.0


@pytest.mark.parametrize("backend", ["memory", "chroma"])
def test_concurrent_operations_all_finish(tmp_path: Path, backend: str) -> None:
    if backend == "chroma":
        pytest.importorskip("llm_memory_chroma")
    memory = MemoryManager.from_settings(
        storage_backend=backend,
        vector_store_dir=str(tmp_path / "store"),
        snapshot_dir=str(tmp_path / "snapshots"),
    )
    memory.write_memory("Carol keeps bees on the roof.", "carol")
    start = threading.Barrier(7)
    errors: list[str] = []

    def worker(name: str, body: Callable[[int], None]) -> threading.Thread:
        def run() -> None:
            try:
                start.wait(timeout=30)
                for i in range(ROUNDS):
                    body(i)
            except Exception:
                errors.append(f"{name}: {traceback.format_exc()}")

        return threading.Thread(target=run, name=name, daemon=True)

    def write(user: str) -> Callable[[int], None]:
        def body(i: int) -> None:
            memory.write_memory(f"{user} learned fact {i} about tea", user)
            if i % 4 == 0:
                memory.write_memories(
                    [{"user_id": user, "content": f"{user} batch {i}.{j}"} for j in range(3)]
                )

        return body

    def read(i: int) -> None:
        for user in ("alice", "bob", "carol"):
            found = memory.retrieve("what about tea?", user, limit=5)
            if found:
                memory.get(found[0].memory.id, user)
        memory.list("alice", limit=20)
        memory.flush()  # access statistics written while others write

    def forget_and_update(i: int) -> None:
        item = memory.write_memory(f"dave's passing thought {i}", "dave")
        memory.update_memory(item.id, "dave", importance=0.9)
        assert memory.forget(item.id, "dave")
        if i % 5 == 4:
            memory.forget_user("dave")

    def snapshot(i: int) -> None:
        ref = memory.snapshots.create(user_id="carol" if i % 2 else None)
        if i % 3 == 2:
            memory.snapshots.restore(ref.id, user_id="carol")

    def inspect(i: int) -> None:
        memory.stats()
        memory.users()
        for item in memory.list("bob", limit=3):
            memory.history(item.id, "bob")

    threads = [
        worker("writer-alice", write("alice")),
        worker("writer-bob", write("bob")),
        worker("reader-1", read),
        worker("reader-2", read),
        worker("forgetter", forget_and_update),
        worker("snapshotter", snapshot),
        worker("inspector", inspect),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    stuck = [t.name for t in threads if t.is_alive()]
    try:
        assert stuck == [], f"threads still running after {JOIN_TIMEOUT:g} s (a deadlock?): {stuck}"
        assert errors == []
        assert len(memory.list("alice", limit=1000)) == ROUNDS + 3 * len(range(0, ROUNDS, 4))
        assert [m.content for m in memory.list("carol")] == ["Carol keeps bees on the roof."]
    finally:
        if not stuck:
            memory.close()
