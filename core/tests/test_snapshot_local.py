"""The built-in ``local`` snapshot store: the contract kit, and how it is selected."""

from __future__ import annotations

import pytest
from llm_memory.plugins import build
from llm_memory.settings import load_settings
from llm_memory.snapshot.local import LocalSnapshotStore
from llm_memory_testing import SnapshotStoreContract
from llm_memory_testing.snapshot import fake_manifest


class TestLocalSnapshotStore(SnapshotStoreContract):
    @pytest.fixture
    def snapshot_store(self, tmp_path):
        return LocalSnapshotStore(tmp_path / "snapshots")

    @pytest.fixture
    def reopen_snapshot_store(self, tmp_path):
        return lambda: LocalSnapshotStore(tmp_path / "snapshots")


def test_local_is_the_default_store_and_uses_snapshot_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SNAPSHOT_DIR", str(tmp_path / "elsewhere"))
    store = build("snapshot", "local", load_settings())
    assert isinstance(store, LocalSnapshotStore)
    assert store.directory == tmp_path / "elsewhere"
    assert load_settings().snapshot_store == "local"


def test_an_archive_without_its_manifest_is_not_listed(tmp_path):
    """A crash between the archive and the manifest leaves an orphan, never a listed snapshot."""
    store = LocalSnapshotStore(tmp_path)
    (tmp_path / "orphan.tar").write_bytes(b"x" * 10)
    (tmp_path / "half.tar.part").write_bytes(b"x")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "broken.tar").write_bytes(b"x")
    archive = tmp_path / "in.bin"
    archive.write_bytes(b"abc")
    store.put("good", archive, fake_manifest("good"))
    assert [r.id for r in store.list()] == ["good"]
