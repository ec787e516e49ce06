"""Reads never rewrite the table: access statistics start no optimize (issue 17)."""

from __future__ import annotations

from llm_memory.manager import MemoryManager
from llm_memory_lancedb.store import LanceDBStore


def test_read_only_traffic_starts_no_optimize(tmp_path) -> None:
    """With an optimize due after every write, a write starts one; then 40 retrieves, each
    followed by a flush of its access statistics (40 UPDATE commits), start none. Counted,
    not timed."""
    overrides = {
        "storage_backend": "lancedb",
        "vector_store_dir": str(tmp_path / "data"),
        "lancedb": {"optimize_every": 1, "optimize_growth": 0.0001},
    }
    with MemoryManager.from_settings(**overrides) as memory:
        store = memory.store
        assert isinstance(store, LanceDBStore)
        memory.write_memories(
            [{"user_id": "alice", "content": f"alice note {n} about bees"} for n in range(30)]
        )
        store.wait_for_index()
        assert store.optimizes == 1  # the write's: the counter counts
        version = store.describe()["version"]
        for n in range(40):
            assert memory.retrieve(f"bees note {n}", "alice", limit=5)
            memory.flush()
        store.wait_for_index()
        assert store.describe()["version"] > version  # the statistics were committed
        assert store.optimizes == 1  # and started nothing
        assert sum(m.access_count for m in memory.list("alice", limit=100)) == 200
        memory.write_memory("alice writes again", "alice")
        store.wait_for_index()
        assert store.optimizes == 2  # a real write still does


def test_a_flush_of_different_counts_is_one_commit(tmp_path) -> None:
    from datetime import UTC, datetime

    from llm_memory.models import EmbedderInfo, MemoryItem

    store = LanceDBStore(tmp_path / "db", "m")
    store.set_embedding_info(EmbedderInfo(name="t", model="t", dimension=2))
    items = [MemoryItem(id=f"m{n}", user_id="u", content=f"m {n}") for n in range(4)]
    store.upsert(items, [[1.0, float(n)] for n in range(4)])
    version = store.describe()["version"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    store.record_access({("u", "m0"): (1, at), ("u", "m1"): (3, at), ("u", "m2"): (2, at)})
    assert store.describe()["version"] == version + 1
    assert [m.access_count for m in store.get("u", ["m0", "m1", "m2", "m3"])] == [1, 3, 2, 0]
    store.close()
