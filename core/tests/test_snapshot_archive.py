"""The snapshot archive format: round trip, and every way a file can be refused."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from llm_memory.errors import SnapshotError
from llm_memory.models import MemoryItem
from llm_memory.snapshot.archive import (
    FORMAT_VERSION,
    PartWriter,
    iter_parts,
    pack,
    seal,
    unpack,
    verify_dir,
    verify_download,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _items(user: str, n: int) -> list[MemoryItem]:
    return [
        MemoryItem(
            user_id=user,
            content=f"{user} fact {i} — ünïcode",
            type="fact" if i % 2 else "episodic",
            importance=i / n,
            session_id="s1" if i % 3 == 0 else None,
            created_at=T0 + timedelta(minutes=i),
            access_count=i,
            metadata={"n": i, "flag": i % 2 == 0, "w": 0.5, "tag": "x"},
        )
        for i in range(n)
    ]


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict, dict]:
    """A packed archive of two users (alice in two parts); returns (tar, stored manifest, data)."""
    rng = np.random.default_rng(1)
    writer = PartWriter(tmp_path / "staged")
    data = {}
    for user, n in (("alice", 7), ("bob", 3)):
        items, vectors = _items(user, n), rng.standard_normal((n, 5)).astype(np.float32)
        data[user] = (items, vectors)
        if user == "alice":
            writer.add(user, items[:4], vectors[:4])
            writer.add(user, items[4:], vectors[4:])
        else:
            writer.add(user, items, vectors)
    manifest = writer.finish(id="snap-1", created_at=T0.isoformat(), scope={"user_id": None})
    stored = pack(tmp_path / "staged", manifest, tmp_path / "snap.tar")
    return tmp_path / "snap.tar", stored, data


def test_round_trip_keeps_every_record_and_vector(archive, tmp_path):
    tar, stored, data = archive
    verify_download(tar, stored, "Snapshot snap-1")
    manifest = unpack(tar, tmp_path / "out", "Snapshot snap-1")
    assert manifest["counts"] == {"alice": 7, "bob": 3} and manifest["total"] == 10
    assert manifest["format_version"] == FORMAT_VERSION and len(manifest["parts"]) == 3
    assert all(len(p[k]["sha256"]) == 64 for p in manifest["parts"] for k in ("records", "vectors"))
    got: dict[str, tuple[list, list]] = {}
    for part, items, vectors in iter_parts(tmp_path / "out", manifest, "x"):
        entry = got.setdefault(part["user_id"], ([], []))
        entry[0].extend(items)
        entry[1].extend(vectors)
    for user, (items, vectors) in data.items():
        assert got[user][0] == items
        assert np.array_equal(np.asarray(got[user][1]), vectors)
    assert verify_dir(tmp_path / "out", "x") == manifest


def test_only_one_user_is_read_when_asked(archive, tmp_path):
    tar, _, _ = archive
    manifest = unpack(tar, tmp_path / "out", "x")
    users = {part["user_id"] for part, _, _ in iter_parts(tmp_path / "out", manifest, "x", {"bob"})}
    assert users == {"bob"}


@pytest.mark.parametrize("where", [0, 0.5, -1])
def test_a_flipped_byte_anywhere_fails_the_archive_checksum(archive, where):
    tar, stored, _ = archive
    raw = bytearray(tar.read_bytes())
    raw[int(len(raw) * where) if where != -1 else -1] ^= 0x01
    tar.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError, match=r"^Snapshot snap-1 is corrupt: the archive's SHA-256"):
        verify_download(tar, stored, "Snapshot snap-1")


def test_a_flipped_byte_in_a_part_fails_that_parts_checksum(archive, tmp_path):
    """Without the stored manifest (an archive file), the per-part checksums catch it."""
    tar, _, _ = archive
    with tarfile.open(tar) as t:
        offset = t.getmember("parts/000001.npy").offset_data + 100
    raw = bytearray(tar.read_bytes())
    raw[offset] ^= 0xFF
    tar.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError, match=r"corrupt: the checksum of parts/000001.npy"):
        unpack(tar, tmp_path / "out", "Archive x")


def test_a_truncated_archive_is_refused(archive, tmp_path):
    tar, stored, _ = archive
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    with pytest.raises(SnapshotError, match="truncated or damaged"):
        verify_download(tar, stored, "Snapshot snap-1")
    with pytest.raises(SnapshotError, match=r"truncated or not a snapshot archive|corrupt"):
        unpack(tar, tmp_path / "out", "Archive x")


def test_random_bytes_are_not_a_snapshot(tmp_path):
    path = tmp_path / "foreign.tar"
    path.write_bytes(b"PK\x03\x04 not a tar at all" * 50)
    with pytest.raises(SnapshotError, match="not a snapshot archive"):
        unpack(path, tmp_path / "out", "Archive foreign.tar")


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as t:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    return path


def test_a_tar_without_a_manifest_is_foreign(tmp_path):
    path = _tar(tmp_path / "other.tar", {"README": b"hello"})
    with pytest.raises(SnapshotError, match=r"is not an llm-memory snapshot \(no manifest.json\)"):
        unpack(path, tmp_path / "out", "Archive other.tar")


def test_a_manifest_of_another_format_is_foreign(tmp_path):
    path = _tar(
        tmp_path / "other.tar", {"manifest.json": json.dumps({"format": "something-else"}).encode()}
    )
    with pytest.raises(SnapshotError, match="not an llm-memory snapshot"):
        unpack(path, tmp_path / "out", "Archive other.tar")


def test_a_newer_format_version_asks_for_an_upgrade(archive, tmp_path):
    tar, _, _ = archive
    manifest = unpack(tar, tmp_path / "out", "x")
    newer = seal(
        {k: v for k, v in manifest.items() if k != "manifest_sha256"} | {"format_version": 99}
    )
    path = _tar(tmp_path / "newer.tar", {"manifest.json": json.dumps(newer).encode()})
    with pytest.raises(SnapshotError, match=r"format version 99.*Upgrade llm-memory"):
        unpack(path, tmp_path / "out2", "Archive newer.tar")


def test_an_edited_manifest_fails_its_own_checksum(archive, tmp_path):
    tar, _, _ = archive
    manifest = unpack(tar, tmp_path / "out", "x")
    manifest["counts"]["alice"] = 1000
    path = _tar(tmp_path / "edited.tar", {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(SnapshotError, match="manifest checksum does not match"):
        unpack(path, tmp_path / "out2", "Archive edited.tar")


def test_a_manifest_naming_a_path_outside_parts_is_refused(tmp_path):
    evil = seal(
        {
            "format": "llm-memory-snapshot",
            "format_version": 1,
            "parts": [
                {
                    "user_id": "a",
                    "count": 1,
                    "records": {"path": "../../evil", "sha256": "0", "size": 1},
                }
            ],
        }
    )
    path = _tar(
        tmp_path / "evil.tar", {"manifest.json": json.dumps(evil).encode(), "../../evil": b"x"}
    )
    with pytest.raises(SnapshotError, match="unexpected file"):
        unpack(path, tmp_path / "out", "Archive evil.tar")
    assert not (tmp_path.parent / "evil").exists()


def test_a_part_holding_another_users_records_is_refused(tmp_path):
    writer = PartWriter(tmp_path / "staged")
    writer.add("alice", _items("bob", 2), np.zeros((2, 3), np.float32))
    manifest = writer.finish(id="x")
    with pytest.raises(SnapshotError, match="does not match its manifest"):
        list(iter_parts(tmp_path / "staged", manifest, "Archive x"))
