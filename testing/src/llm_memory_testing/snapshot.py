"""The snapshot-store contract: one test class every :class:`~llm_memory.snapshot.SnapshotStore` passes.

A store's test module subclasses :class:`SnapshotStoreContract` and provides a
``snapshot_store`` fixture yielding an EMPTY store; a ``reopen_snapshot_store`` fixture
(a callable that returns a second store object on the same location) enables the
persistence test::

    from llm_memory_testing import SnapshotStoreContract

    class TestMyStore(SnapshotStoreContract):
        @pytest.fixture
        def snapshot_store(self, tmp_path):
            return MySnapshotStore(tmp_path / "snapshots")

        @pytest.fixture
        def reopen_snapshot_store(self, tmp_path):
            return lambda: MySnapshotStore(tmp_path / "snapshots")

A store only keeps bytes and a JSON manifest: the kit writes arbitrary bytes, so it tests
the store, not the archive format. ``large_archive_bytes`` sets the size of the largest
archive the kit round-trips (raise it to exercise multipart uploads).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from llm_memory.errors import NotFound, SnapshotError
from llm_memory.snapshot import SnapshotStore

__all__ = ["SnapshotStoreContract", "fake_manifest"]

BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def fake_manifest(snapshot_id: str, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    """A manifest as the engine writes one (the store must keep it as given)."""
    return {
        "format": "llm-memory-snapshot",
        "format_version": 1,
        "id": snapshot_id,
        "created_at": (BASE_TIME + timedelta(minutes=minutes)).isoformat(),
        "scope": {"user_id": None},
        "counts": {"alice": 2, "bob": 1},
        "total": 3,
        **extra,
    }


def _archive(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


class SnapshotStoreContract:
    """Tests every snapshot store must pass. Override ``snapshot_store`` (an empty store)."""

    large_archive_bytes: ClassVar[int] = 1 << 20

    @pytest.fixture
    def snapshot_store(self) -> SnapshotStore:
        raise NotImplementedError(
            "Subclasses provide a `snapshot_store` fixture yielding an empty store."
        )

    @pytest.fixture
    def archives(self, tmp_path: Path) -> Path:
        directory = tmp_path / "kit-archives"
        directory.mkdir()
        return directory

    def test_an_empty_store_lists_nothing(self, snapshot_store: SnapshotStore) -> None:
        """A new store has no snapshots."""
        assert snapshot_store.list() == []

    def test_put_lists_and_fetches_the_same_bytes_and_manifest(
        self, snapshot_store: SnapshotStore, archives: Path
    ) -> None:
        """What ``put`` stores is listed with its size and time, and fetched byte for byte."""
        archive = _archive(archives, "a.tar", 4096 + 7)
        manifest = fake_manifest(
            "20240501T120000000Z-aaaaaa", 5, nested={"list": [1, 2.5, None, "é"]}
        )
        ref = snapshot_store.put(manifest["id"], archive, manifest)
        assert (ref.id, ref.size, ref.created_at) == (
            manifest["id"],
            4103,
            BASE_TIME + timedelta(minutes=5),
        )
        [listed] = snapshot_store.list()
        assert (listed.id, listed.size, listed.created_at) == (ref.id, 4103, ref.created_at)
        assert listed.manifest == manifest
        dest = archives / "fetched.tar"
        assert snapshot_store.fetch(ref.id, dest) == manifest
        assert dest.read_bytes() == archive.read_bytes()

    def test_list_is_newest_first(self, snapshot_store: SnapshotStore, archives: Path) -> None:
        """``list`` orders by the manifest's ``created_at``, newest first, whatever the put order."""
        for minutes in (10, 30, 20):
            snapshot_id = f"snap-{minutes}"
            snapshot_store.put(
                snapshot_id,
                _archive(archives, f"{minutes}.tar", 100),
                fake_manifest(snapshot_id, minutes),
            )
        assert [r.id for r in snapshot_store.list()] == ["snap-30", "snap-20", "snap-10"]

    def test_unknown_ids_raise_not_found(
        self, snapshot_store: SnapshotStore, archives: Path
    ) -> None:
        """``fetch`` and ``delete`` of an id that was never stored raise ``NotFound``."""
        with pytest.raises(NotFound):
            snapshot_store.fetch("never-stored", archives / "x.tar")
        with pytest.raises(NotFound):
            snapshot_store.delete("never-stored")

    def test_delete_removes_the_snapshot(
        self, snapshot_store: SnapshotStore, archives: Path
    ) -> None:
        """A deleted snapshot is neither listed nor fetchable; the others stay."""
        for n in (1, 2):
            snapshot_store.put(
                f"s{n}", _archive(archives, f"{n}.tar", 64), fake_manifest(f"s{n}", n)
            )
        snapshot_store.delete("s1")
        assert [r.id for r in snapshot_store.list()] == ["s2"]
        with pytest.raises(NotFound):
            snapshot_store.fetch("s1", archives / "gone.tar")
        with pytest.raises(NotFound):
            snapshot_store.delete("s1")

    def test_a_failed_put_is_never_listed(
        self, snapshot_store: SnapshotStore, archives: Path
    ) -> None:
        """If ``put`` raises (here: the archive file is missing), nothing is listed."""
        with pytest.raises(Exception):  # noqa: B017 - any error: the store decides which
            snapshot_store.put("broken", archives / "missing.tar", fake_manifest("broken"))
        assert snapshot_store.list() == []
        with pytest.raises(NotFound):
            snapshot_store.fetch("broken", archives / "x.tar")

    @pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", ".hidden", "x" * 200])
    def test_ids_that_could_escape_are_refused(
        self, snapshot_store: SnapshotStore, archives: Path, bad_id: str
    ) -> None:
        """Ids become file names and keys: anything but ``[A-Za-z0-9._-]`` is refused."""
        archive = _archive(archives, "a.tar", 10)
        with pytest.raises(SnapshotError):
            snapshot_store.put(bad_id, archive, fake_manifest(bad_id))
        with pytest.raises(SnapshotError):
            snapshot_store.fetch(bad_id, archives / "x.tar")
        assert snapshot_store.list() == []

    def test_a_large_archive_round_trips(
        self, snapshot_store: SnapshotStore, archives: Path
    ) -> None:
        """An archive of ``large_archive_bytes`` comes back identical."""
        archive = _archive(archives, "big.tar", self.large_archive_bytes)
        ref = snapshot_store.put("big", archive, fake_manifest("big"))
        assert ref.size == self.large_archive_bytes
        dest = archives / "big-fetched.tar"
        snapshot_store.fetch("big", dest)
        assert dest.stat().st_size == self.large_archive_bytes
        assert dest.read_bytes() == archive.read_bytes()

    def test_another_store_object_sees_the_snapshots(
        self, snapshot_store: SnapshotStore, archives: Path, request: pytest.FixtureRequest
    ) -> None:
        """Snapshots persist: a store opened again on the same location lists and fetches them."""
        try:
            reopen: Callable[[], SnapshotStore] = request.getfixturevalue("reopen_snapshot_store")
        except pytest.FixtureLookupError:
            pytest.skip("no reopen_snapshot_store fixture")
        archive = _archive(archives, "p.tar", 300)
        snapshot_store.put("persisted", archive, fake_manifest("persisted"))
        other = reopen()
        assert [r.id for r in other.list()] == ["persisted"]
        dest = archives / "p2.tar"
        other.fetch("persisted", dest)
        assert dest.read_bytes() == archive.read_bytes()
