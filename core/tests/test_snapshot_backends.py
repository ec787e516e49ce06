"""Snapshots are logical: one taken from any backend restores into any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from llm_memory.manager import MemoryManager
from llm_memory.snapshot.engine import Snapshots
from llm_memory.storage import MemoryFilter


def open_manager(tmp_path: Path, backend: str, dimension: int = 32) -> MemoryManager:
    return MemoryManager.from_settings(
        storage_backend=backend,
        vector_store_dir=tmp_path / f"{backend}-{dimension}",
        snapshot_dir=tmp_path / "snapshots",
        hybrid_search=False,
    )


def contents(manager: MemoryManager) -> dict:
    out = {}
    for user in manager.store.users():
        items = manager.store.list(MemoryFilter(user_id=user), limit=1000)
        vectors = manager.store.get_vectors(user, [i.id for i in items])
        out.update({(user, i.id): (i.model_dump(), np.asarray(vectors[i.id])) for i in items})
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key][0] == b[key][0], key
        assert np.allclose(a[key][1], b[key][1], atol=1e-5), key


def test_memory_to_chroma_to_lancedb_to_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("HASH_DIMENSION", "32")
    with open_manager(tmp_path, "memory") as source:
        source.write_memories(
            [
                {
                    "user_id": u,
                    "content": f"{u} keeps fact {i}",
                    "type": "fact",
                    "metadata": {"i": i},
                }
                for u in ("alice", "bob")
                for i in range(12)
            ]
        )
        source.ingest_conversation([{"content": "hi", "role": "user"}], "alice", session_id="s")
        expected = contents(source)
        ref = Snapshots(source).create()
    for backend in ("chroma", "lancedb", "memory"):
        with open_manager(tmp_path, backend) as target:
            if backend == "memory":  # the last hop lands on a store that already holds data
                target.write_memory("stale memory to be replaced", "carol")
            snapshots = Snapshots(target)
            assert snapshots.restore(ref.id).restored == 25
            assert_same(contents(target), expected)
            ref = snapshots.create()
            assert ref.manifest["backend"]["backend"] == backend


def test_restoring_into_a_chroma_collection_of_another_dimension(tmp_path, monkeypatch):
    """The store holds 64-dimensional vectors; the snapshot and the embedder are 32: a full
    restore clears the collection (chroma fixes its dimension) and re-stamps it."""
    monkeypatch.setenv("HASH_DIMENSION", "32")
    with open_manager(tmp_path, "memory") as source:
        source.write_memories([{"user_id": "alice", "content": f"fact {i}"} for i in range(5)])
        expected = contents(source)
        ref = Snapshots(source).create()
    monkeypatch.setenv("HASH_DIMENSION", "64")
    with open_manager(tmp_path, "chroma", dimension=0) as old:
        old.write_memory("written with the 64-dimensional embedder", "bob")
    monkeypatch.setenv("HASH_DIMENSION", "32")
    with open_manager(tmp_path, "chroma", dimension=0) as target:
        assert target.store.embedding_info().dimension == 64
        assert Snapshots(target).restore(ref.id).reembedded is False
        assert target.store.embedding_info() == target.embedder.info()
        assert_same(contents(target), expected)
        assert target.retrieve("fact 3", "alice")
