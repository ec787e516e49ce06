"""Snapshots of a real store: create, restore, refuse damaged archives, re-embed, prune."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import NotFound, SnapshotError
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.snapshot.engine import Snapshots
from llm_memory.snapshot.local import LocalSnapshotStore
from llm_memory.storage import MemoryFilter
from llm_memory.storage.memory import MemoryStore

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def make_manager(
    tmp_path: Path, name: str = "db", dimension: int = 64, store=None
) -> MemoryManager:
    settings = load_settings(snapshot_dir=tmp_path / "snapshots", vector_store_dir=tmp_path / name)
    store = store if store is not None else MemoryStore(tmp_path / name / "memory_store.json")
    return MemoryManager(store, HashEmbedder(dimension=dimension), settings=settings)


def populate(manager: MemoryManager) -> None:
    manager.write_memories(
        [
            {
                "user_id": user,
                "content": f"{user} remembers fact number {i} about topic {i % 4}",
                "type": ("semantic", "preference", "fact")[i % 3],
                "importance": round(i / 40, 3),
                "metadata": {"i": i, "even": i % 2 == 0, "source": "test"},
                "created_at": T0 + timedelta(hours=i),
            }
            for user, n in (("alice", 23), ("bob", 11))
            for i in range(n)
        ]
    )
    manager.ingest_conversation(
        [{"content": "hello there", "speaker": "Alice", "timestamp": T0}], "alice", session_id="s-1"
    )
    manager.retrieve("fact number 3", "alice")  # access statistics must survive too
    manager.flush()


def contents(manager: MemoryManager) -> dict[tuple[str, str], tuple[dict, np.ndarray]]:
    store = manager.store
    out = {}
    for user in store.users():
        items = store.list(MemoryFilter(user_id=user), limit=10_000)
        vectors = store.get_vectors(user, [i.id for i in items])
        for item in items:
            out[(user, item.id)] = (item.model_dump(), np.asarray(vectors[item.id]))
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key][0] == b[key][0], key
        assert np.allclose(a[key][1], b[key][1], atol=1e-6), key


@pytest.fixture
def manager(tmp_path):
    m = make_manager(tmp_path)
    populate(m)
    yield m
    m.close()


@pytest.fixture
def snapshots(manager):
    return Snapshots(manager)


def _only(snapshots: Snapshots):
    [ref] = snapshots.list()
    return ref, Path(snapshots.store.directory)


# -- the round trip ------------------------------------------------------------------------
def test_create_wipe_restore_latest_brings_back_every_record_and_vector(manager, snapshots):
    before = contents(manager)
    assert len(before) == 35 and any(m["access_count"] for m, _ in before.values())
    ref = snapshots.create()
    for user in manager.users():
        manager.forget_user(user)
    manager.write_memory("carol was not there at snapshot time", "carol")
    result = snapshots.restore("latest")
    assert (result.snapshot_id, result.restored, result.reembedded) == (ref.id, 35, False)
    assert_same(contents(manager), before)
    assert manager.retrieve("fact number 5", "bob")[0].memory.user_id == "bob"


def test_the_manifest_describes_the_snapshot(manager, snapshots):
    ref = snapshots.create()
    m = ref.manifest
    assert m["format"] == "llm-memory-snapshot" and m["format_version"] == 1
    assert m["counts"] == {"alice": 24, "bob": 11} and m["total"] == 35
    assert m["backend"]["backend"] == "memory"
    assert m["embedder"] == {"name": "hash", "model": "hash-v2-64", "dimension": 64}
    assert m["scope"] == {"user_id": None}
    assert len(m["archive_sha256"]) == 64 and m["archive_size"] == ref.size
    assert all(len(p["records"]["sha256"]) == 64 for p in m["parts"])
    assert datetime.fromisoformat(m["created_at"]) == ref.created_at


def test_an_empty_store_snapshots_and_restores(tmp_path):
    with make_manager(tmp_path, "empty") as m:
        snapshots = Snapshots(m)
        ref = snapshots.create()
        assert ref.manifest["total"] == 0
        m.write_memory("written after", "dave")
        assert snapshots.restore(ref.id).restored == 0
        assert m.store.count() == 0


# -- one user ------------------------------------------------------------------------------
def test_a_user_export_restores_that_user_without_touching_the_others(manager, snapshots):
    before = contents(manager)
    full = snapshots.create()
    export = snapshots.create(user_id="alice")
    assert export.manifest["counts"] == {"alice": 24}
    manager.forget_user("alice")
    manager.write_memory("alice learned something new", "alice")
    manager.write_memory("bob learned something new", "bob")
    bob_now = {k: v for k, v in contents(manager).items() if k[0] == "bob"}

    result = snapshots.restore("latest", user_id="alice")  # the export: newest covering alice
    assert (result.snapshot_id, result.user_id, result.restored) == (export.id, "alice", 24)
    after = contents(manager)
    assert_same(
        {k: v for k, v in after.items() if k[0] == "alice"},
        {k: v for k, v in before.items() if k[0] == "alice"},
    )
    assert_same({k: v for k, v in after.items() if k[0] == "bob"}, bob_now)

    assert snapshots.get("latest").id == full.id  # an export is never the latest full snapshot
    with pytest.raises(SnapshotError, match="holds only the memories of 'alice', not of 'bob'"):
        snapshots.restore(export.id, user_id="bob")


def test_one_user_restores_from_a_full_snapshot(manager, snapshots):
    before = contents(manager)
    snapshots.create()
    manager.forget_user("bob")
    manager.write_memory("alice keeps this", "alice")
    snapshots.restore(user_id="bob")
    after = contents(manager)
    assert_same(
        {k: v for k, v in after.items() if k[0] == "bob"},
        {k: v for k, v in before.items() if k[0] == "bob"},
    )
    assert len([k for k in after if k[0] == "alice"]) == 25


# -- damaged archives: refused, store untouched ---------------------------------------------
def _damage_refused(manager, snapshots, damage, match):
    ref = snapshots.create()
    directory = Path(snapshots.store.directory)
    manager.write_memory("written after the snapshot", "alice")
    db = Path(manager.settings.vector_store_dir) / "memory_store.json"
    before_bytes, before = db.read_bytes(), contents(manager)
    damage(directory / f"{ref.id}.tar", directory / f"{ref.id}.json")
    with pytest.raises(SnapshotError, match=match) as info:
        snapshots.restore(ref.id)
    assert "\n" not in str(info.value)
    assert db.read_bytes() == before_bytes
    assert_same(contents(manager), before)
    assert not any(p.is_dir() for p in (directory / ".journal").iterdir())


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_flipped_byte_is_refused_and_the_store_is_untouched(manager, snapshots, where):
    def flip(tar, meta):
        raw = bytearray(tar.read_bytes())
        raw[int(len(raw) * where)] ^= 0x20
        tar.write_bytes(bytes(raw))

    _damage_refused(
        manager, snapshots, flip, r"^Snapshot \S+ is corrupt: the archive's SHA-256 does not match"
    )


def test_a_truncated_archive_is_refused(manager, snapshots):
    def truncate(tar, meta):
        tar.write_bytes(tar.read_bytes()[:-700])

    _damage_refused(manager, snapshots, truncate, "is truncated or damaged")


def test_a_foreign_archive_under_a_snapshots_name_is_refused(manager, snapshots, tmp_path):
    other = Snapshots(
        make_manager(tmp_path, "other"), store=LocalSnapshotStore(tmp_path / "foreign")
    )
    other.manager.write_memory("someone else's memory", "mallory")
    foreign = other.create()

    def swap(tar, meta):  # a real snapshot archive, but not this one; sizes and sums patched
        import json

        stored = json.loads(meta.read_text())
        source = tmp_path / "foreign" / f"{foreign.id}.tar"
        tar.write_bytes(source.read_bytes())
        stored["archive_size"], stored["archive_sha256"] = (
            foreign.manifest["archive_size"],
            foreign.manifest["archive_sha256"],
        )
        meta.write_text(json.dumps(stored))

    _damage_refused(manager, snapshots, swap, "does not match the manifest stored beside it")


def test_an_edited_stored_manifest_is_refused(manager, snapshots):
    def edit(tar, meta):
        meta.write_text(meta.read_text().replace('"bob": 11', '"bob": 12'))

    _damage_refused(manager, snapshots, edit, "manifest checksum does not match")


def test_a_foreign_file_given_as_archive_is_refused(manager, snapshots, tmp_path):
    db = Path(manager.settings.vector_store_dir) / "memory_store.json"
    before = db.read_bytes()
    foreign = tmp_path / "holiday.tar"
    foreign.write_bytes(b"\x89PNG\r\n" + bytes(range(256)) * 8)
    with pytest.raises(
        SnapshotError, match=r"^Archive '.*holiday.tar' is truncated or not a snapshot archive"
    ):
        snapshots.restore(path=foreign)
    assert db.read_bytes() == before


def test_an_archive_file_restores_like_a_stored_snapshot(manager, snapshots, tmp_path):
    before = contents(manager)
    ref = snapshots.create()
    copy = tmp_path / "copy.tar"
    copy.write_bytes((Path(snapshots.store.directory) / f"{ref.id}.tar").read_bytes())
    with make_manager(tmp_path, "fresh") as fresh:
        assert Snapshots(fresh).restore(path=copy).restored == 35
        assert_same(contents(fresh), before)


# -- another embedder, another backend -------------------------------------------------------
def test_restore_under_another_embedder_re_embeds(manager, snapshots, tmp_path):
    before = contents(manager)
    snapshots.create()
    with make_manager(tmp_path, "small", dimension=32) as other:
        phases = []
        result = Snapshots(other).restore(
            progress=lambda phase, done, total: phases.append((phase, done, total))
        )
        assert result.reembedded and result.restored == 35
        assert ("embed", 35, 35) in phases and ("apply", 35, 35) in phases
        assert other.store.embedding_info() == other.embedder.info()
        after = contents(other)
        assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
        for item, vector in after.values():
            assert np.allclose(
                vector, other.embedder.embed_documents([item["content"]])[0], atol=1e-6
            )
        best = max(other.retrieve("fact number 7", "alice"), key=lambda s: s.relevance)
        assert best.memory.content.startswith("alice remembers fact number 7 ")


def test_a_snapshot_of_one_backend_restores_into_another(tmp_path):
    """In-process (non-persistent) memory store to a file-backed one: only the logical data moves."""
    with make_manager(tmp_path, "volatile", store=MemoryStore()) as source:
        populate(source)
        before = contents(source)
        ref = Snapshots(source).create()
    with make_manager(tmp_path, "persistent") as target:
        Snapshots(target).restore(ref.id)
        assert_same(contents(target), before)


# -- list, delete, prune ----------------------------------------------------------------------
def test_list_delete_and_prune(manager, snapshots):
    ids = [snapshots.create().id for _ in range(3)]
    export = snapshots.create(user_id="bob").id
    assert [r.id for r in snapshots.list()] == [export, *reversed(ids)]
    assert snapshots.prune(keep=2) == [ids[0]]
    assert [r.id for r in snapshots.list()] == [export, ids[2], ids[1]]
    snapshots.delete(ids[2])
    assert snapshots.get("latest").id == ids[1]
    with pytest.raises(NotFound, match="No snapshot 'nope'"):
        snapshots.delete("nope")
    assert sorted(snapshots.prune(keep=0)) == sorted([export, ids[1]])
    with pytest.raises(NotFound, match="No snapshot of all users yet"):
        snapshots.restore()


def test_a_snapshot_that_failed_half_way_is_never_latest(manager, snapshots, monkeypatch):
    good = snapshots.create()
    calls = {"n": 0}
    real = manager.store.get_vectors

    def failing(user_id, ids):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("disk on fire")
        return real(user_id, ids)

    monkeypatch.setattr(manager.store, "get_vectors", failing)
    with pytest.raises(RuntimeError):
        snapshots.create()
    assert [r.id for r in snapshots.list()] == [good.id]
    assert snapshots.get("latest").id == good.id
    files = sorted(p.name for p in Path(snapshots.store.directory).iterdir() if p.is_file())
    assert files == [f"{good.id}.json", f"{good.id}.tar"]


# -- failures during the apply, and concurrent readers -------------------------------------------
class FlakyStore(MemoryStore):
    """Fails the n-th upsert (0: never); sleeps in upsert to widen the restore window."""

    def __init__(self, path, fail_at=0, delay=0.0):
        super().__init__(path)
        self.fail_at, self.delay, self.upserts = fail_at, delay, 0

    def upsert(self, items, vectors):
        self.upserts += 1
        if self.fail_at and self.upserts == self.fail_at:
            raise OSError("the backend went away")
        time.sleep(self.delay)
        super().upsert(items, vectors)


def test_a_failing_apply_is_rolled_back(tmp_path):
    source = make_manager(tmp_path, "source")
    populate(source)
    Snapshots(source, page=5).create()
    store = FlakyStore(tmp_path / "target.json")
    with make_manager(tmp_path, "target", store=store) as target:
        target.write_memories([{"user_id": "zoe", "content": f"zoe memory {i}"} for i in range(7)])
        target.write_memory("alice has her own memory here", "alice")
        before = contents(target)
        store.upserts, store.fail_at = 0, 4  # three parts in, then the backend fails
        with pytest.raises(
            SnapshotError, match="failed, the store was rolled back: the backend went away"
        ):
            Snapshots(target).restore()
        assert_same(contents(target), before)


def test_readers_in_this_process_never_see_a_half_restored_store(tmp_path):
    """Old: alice has 10 memories. Snapshot: 6 others. Mid-apply the raw store holds 16."""
    store = FlakyStore(tmp_path / "gate.json")
    with make_manager(tmp_path, "gate", store=store) as m:
        m.write_memories(
            [{"user_id": "alice", "content": f"snapshot memory {i}"} for i in range(6)]
        )
        snapshots = Snapshots(m, page=2)
        snapshots.create()
        m.forget_user("alice")
        m.write_memories([{"user_id": "alice", "content": f"later memory {i}"} for i in range(10)])
        store.delay = 0.05
        seen, raw_seen, stop = set(), set(), threading.Event()

        def read(observe, into):
            while not stop.is_set():
                into.add(observe())

        readers = [
            threading.Thread(target=read, args=(lambda: len(m.list("alice", limit=1000)), seen)),
            threading.Thread(target=read, args=(lambda: store.count("alice"), raw_seen)),
        ]
        for reader in readers:
            reader.start()
        try:
            snapshots.restore()
        finally:
            stop.set()
            for reader in readers:
                reader.join()
        assert seen <= {10, 6} and 6 in seen
        assert raw_seen - {10, 6}, "the raw store should have shown the half state the gate hides"
        assert m.store is store


def test_a_restore_while_another_runs_is_refused(manager, snapshots):
    snapshots.create()
    with (
        snapshots._journal().locked(),
        pytest.raises(SnapshotError, match="restore of this store is in progress"),
    ):
        snapshots.restore()


class Interrupted(BaseException):
    """Like SIGINT or SystemExit: not an error to roll back, the process is going away."""


def test_an_interrupted_restore_is_finished_by_the_next_snapshot_operation(tmp_path):
    store = FlakyStore(tmp_path / "interrupted.json")
    with make_manager(tmp_path, "interrupted", store=store) as m:
        m.write_memories([{"user_id": "alice", "content": f"old fact {i}"} for i in range(9)])
        snapshots = Snapshots(m, page=3)
        snapshots.create()
        m.write_memories([{"user_id": "alice", "content": f"new fact {i}"} for i in range(4)])

        def upsert(items, vectors):
            raise Interrupted

        store.upsert, real = upsert, store.upsert
        with pytest.raises(Interrupted):
            snapshots.restore()
        assert m.store is store  # the reader gate is gone
        assert list((tmp_path / "snapshots" / ".journal").rglob("plan.json"))
        store.upsert = real
        ref = snapshots.create()  # recovers first: a snapshot never captures a half restore
        assert ref.manifest["counts"] == {"alice": 9}
        assert not list((tmp_path / "snapshots" / ".journal").rglob("plan.json"))
