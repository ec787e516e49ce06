"""Snapshots are logical: one taken from embedded Chroma restores into Postgres, and one
taken from Postgres restores into a local LanceDB directory, keeping every record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llm_memory import MemoryManager
from llm_memory.models import MemoryItem
from llm_memory.snapshot.engine import Snapshots

pytestmark = pytest.mark.server

USERS = ("alice", "bob", "o'brien; DROP TABLE x --")


def _open(backend: str, tmp_path: Path) -> MemoryManager:
    return MemoryManager.from_settings(
        storage_backend=backend,
        vector_store_dir=tmp_path / backend,
        snapshot_dir=tmp_path / "snapshots",  # one snapshot store, shared by the three
    )


def _records(manager: MemoryManager) -> dict[tuple[str, str], tuple[dict[str, Any], Any]]:
    """Every memory of every user, whole, with its vector."""
    out = {}
    for user in manager.store.users():
        items = list(manager.store.iter_memories(user))
        vectors = manager.store.get_vectors(user, [i.id for i in items])
        out.update({(user, i.id): (i.model_dump(), np.asarray(vectors[i.id])) for i in items})
    return out


def _events(manager: MemoryManager) -> set[tuple[str, str, str, str]]:
    log = manager.history_log
    return {
        (user, e.memory_id, e.kind, e.timestamp.isoformat())
        for user in log.users()
        for e in log.user_events(user)
    }


def _fill(manager: MemoryManager) -> None:
    base = datetime(2023, 5, 7, 13, 56, 12, 123456, tzinfo=UTC)
    items = []
    for u, user in enumerate(USERS):
        for n in range(15):
            items.append(
                MemoryItem(
                    user_id=user,
                    content=f"{user} remembers fact number {n}: the {['red', 'blue'][n % 2]} kite",
                    type=("fact", "preference", "semantic")[n % 3],
                    importance=round(0.05 + 0.06 * n, 2),
                    created_at=base + timedelta(days=n, microseconds=u),
                    updated_at=base + timedelta(days=n, hours=1),
                    last_accessed_at=None if n % 4 else base + timedelta(days=40 + n),
                    access_count=n * 3 % 7,
                    session_id=None if n % 5 else f"session-{n}",
                    metadata={
                        "n": n,
                        "ratio": n / 7,
                        "even": n % 2 == 0,
                        "label": f"é ü 漢字 \"quoted\" 'single' {n}",
                        "empty": "",
                    },
                )
            )
    manager.store.upsert(items, manager.embedder.embed_documents([i.content for i in items]))
    # Conversation turns through the public API: neighbours, episodic dates, history.
    manager.ingest_conversation(
        [
            {"role": "user", "content": "I'm flying to Lisbon on Friday"},
            {"role": "assistant", "content": "Have a good trip to Lisbon!"},
            {"role": "user", "content": "My seat is 14C, by the window"},
        ],
        "alice",
        session_id="trip",
    )
    manager.write_memory("Bob's locker code is 4312", "bob", type="fact", importance=0.9)


def test_chroma_to_postgres_to_lancedb_keeps_every_record(tmp_path, monkeypatch, pg_dsn, pg_table):
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("POSTGRES_TABLE", pg_table)
    with _open("chroma", tmp_path) as chroma:
        _fill(chroma)
        expected, history = _records(chroma), _events(chroma)
        assert {kind for *_, kind, _ in history} == {"created"}
        ref = Snapshots(chroma).create()
    assert len(expected) == 3 * 15 + 3 + 1
    assert {user for user, _ in expected} == set(USERS)

    with _open("postgres", tmp_path) as postgres:
        postgres.write_memory("stale memory the restore removes", "carol")
        snapshots = Snapshots(postgres)
        assert snapshots.restore(ref.id).restored == len(expected)
        _assert_same(_records(postgres), expected)
        assert history <= _events(postgres)  # and the restore's own events
        ref = snapshots.create()
        assert ref.manifest["backend"]["backend"] == "postgres"
        # The keyword rows came with them: found by both searches in Postgres (after the
        # snapshot: a retrieve records its accesses).
        hits = postgres.retrieve("Lisbon seat window", "alice", limit=3)
        assert hits[0].memory.content == "user: My seat is 14C, by the window"
        assert set(hits[0].sources) == {"dense", "keyword"}

    with _open("lancedb", tmp_path) as lancedb:
        assert Snapshots(lancedb).restore(ref.id).restored == len(expected)
        _assert_same(_records(lancedb), expected)
        assert history <= _events(lancedb)
        assert lancedb.retrieve("locker code", "bob", limit=1)[0].memory.content == (
            "Bob's locker code is 4312"
        )


def _assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, (item, vector) in expected.items():
        assert got[key][0] == item, key
        assert np.allclose(got[key][1], vector, atol=1e-6), key
