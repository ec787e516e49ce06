"""A restore on Postgres applies in one transaction: a reader in another process sees the
old store or the restored one, never a mix; a restore that fails changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from llm_memory import MemoryManager
from llm_memory.errors import SnapshotError
from llm_memory.snapshot.engine import Snapshots

pytestmark = pytest.mark.server

#: What a reader sees in one statement: the memories of `u` (ids and contents) and their
#: keyword rows, as one fingerprint.
STATE = """
SELECT md5(coalesce((SELECT string_agg(id || '=' || content, '|' ORDER BY id)
                     FROM {t} WHERE user_id = 'u'), ''))
    || ':' || (SELECT count(*) FROM {kw} WHERE user_id = 'u')
"""

READER = """
import json, pathlib, sys, psycopg
dsn, query, stop = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
seen, reads = [], 0
with psycopg.connect(dsn, autocommit=True) as conn:
    print("ready", flush=True)
    while not stop.exists():
        state = conn.execute(query).fetchone()[0]
        reads += 1
        if not seen or seen[-1] != state:
            seen.append(state)
print(json.dumps({"seen": seen, "reads": reads}))
"""


@pytest.fixture
def manager(pg_dsn, pg_table, monkeypatch, tmp_path):
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("POSTGRES_TABLE", pg_table)
    with MemoryManager.from_settings(
        storage_backend="postgres", vector_store_dir=tmp_path, snapshot_dir=tmp_path / "snaps"
    ) as m:
        yield m


def _state(manager: MemoryManager) -> str:
    store = manager.memories.backend
    with store.transaction(None) as conn:
        return conn.execute(_query(store)).fetchone()[0]


def _query(store) -> str:
    return STATE.format(t=store.names.of().as_string(), kw=store.names.of("_kw").as_string())


def _fill(manager: MemoryManager, label: str, count: int) -> None:
    for start in range(0, count, 100):
        manager.write_memories(
            {"content": f"{label} note {n} on topic{n % 13}", "user_id": "u"}
            for n in range(start, min(start + 100, count))
        )


def test_a_reader_in_another_process_sees_the_old_store_or_the_new_one(manager, pg_dsn, tmp_path):
    _fill(manager, "kept", 400)
    snapshots = Snapshots(manager, page=25)  # many statements: 16 upserts, then the deletes
    snapshots.create()
    restored_state = _state(manager)
    _fill(manager, "later", 400)  # the restore removes these and writes nothing back...
    for item in manager.list("u", limit=50):  # ...but these come back
        manager.forget(item.id, "u")
    before = _state(manager)
    assert before != restored_state

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, pg_dsn, _query(manager.memories.backend), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        result = snapshots.restore("latest")
        time.sleep(0.2)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    assert result.restored == 400
    assert _state(manager) == restored_state
    seen = json.loads(out)["seen"]
    assert seen[0] == before and seen[-1] == restored_state
    assert seen == [before, restored_state]  # nothing in between, ever


def test_a_restore_failing_after_some_writes_leaves_the_store_as_it_was(manager, monkeypatch):
    _fill(manager, "kept", 60)
    snapshots = Snapshots(manager, page=20)
    snapshots.create()
    _fill(manager, "later", 30)
    for item in manager.list("u", limit=30):  # the restore's first pages would bring them back
        manager.forget(item.id, "u")
    before = _state(manager)
    backend = manager.memories.backend
    real, calls = type(backend).upsert, []

    def failing(self, items, vectors):
        calls.append(len(items))
        if len(calls) > 2:  # two pages went in, inside the transaction; then every write fails
            raise RuntimeError("disk on fire")
        return real(self, items, vectors)

    monkeypatch.setattr(type(backend), "upsert", failing)
    # The engine's own rollback (re-applying its backup) fails too: only the transaction
    # can have kept the store as it was.
    with pytest.raises(SnapshotError, match="so did rolling it back"):
        snapshots.restore("latest")
    assert len(calls) > 2
    assert _state(manager) == before
