"""The snapshot archive format: a plain tar of a manifest and parts, every part checksummed.

::

    manifest.json                 format, version, id, time, scope, backend, embedder,
                                  counts per user, and for every part its SHA-256 and size
    parts/000000.jsonl.gz         one user's records (MemoryItem as JSON, one per line)
    parts/000000.npy              their vectors, float32, shape (count, dimension), same order
    parts/history-000000.jsonl.gz one user's history events (HistoryEvent as JSON), optional

Each part holds records of one user only, so one user can be restored (or exported) alone.
The manifest carries a SHA-256 of itself (``manifest_sha256``); stores keep a copy of it
next to the archive with the whole archive's SHA-256 and size, so a download is checked
before the tar is even opened. The same layout, unpacked, is what a restore stages on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llm_memory.errors import SnapshotError, SnapshotInvalid
from llm_memory.models import HistoryEvent, MemoryItem
from llm_memory.snapshot.files import write_json
from llm_memory.validation import is_memory_id

FORMAT = "llm-memory-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Keys of a stored manifest that describe the packed archive; not covered by manifest_sha256.
ARCHIVE_KEYS = ("archive_sha256", "archive_size")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256" and k not in ARCHIVE_KEYS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its own checksum added."""
    return {**manifest, "manifest_sha256": hashlib.sha256(_canonical(manifest)).hexdigest()}


def check_manifest(manifest: Any, source: str) -> dict[str, Any]:
    """Refuse anything that is not an intact manifest of a format this code reads."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotInvalid(f"{source} is not an llm-memory snapshot (no valid manifest).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise SnapshotInvalid(
            f"{source} has snapshot format version {version!r}; this llm-memory reads versions "
            f"1 to {FORMAT_VERSION}. Upgrade llm-memory to restore it."
        )
    expected = hashlib.sha256(_canonical(manifest)).hexdigest()
    if manifest.get("manifest_sha256") != expected:
        raise SnapshotInvalid(f"{source} is corrupt: its manifest checksum does not match.")
    if not isinstance(manifest.get("parts"), list):
        raise SnapshotInvalid(f"{source} is corrupt: its manifest lists no parts.")
    return manifest


class PartWriter:
    """Writes parts (records + vectors of one user) into a directory and describes them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "parts").mkdir(parents=True, exist_ok=True)
        self.parts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.dimension: int | None = None

    def add(self, user_id: str, items: Sequence[MemoryItem], vectors: np.ndarray) -> None:
        if not items:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(items):
            raise SnapshotError(
                f"Got {vectors.shape[0]} vectors for {len(items)} memories of {user_id!r}."
            )
        if self.dimension is not None and vectors.shape[1] != self.dimension:
            raise SnapshotError(
                f"Memories of {user_id!r} have {vectors.shape[1]}-dimensional vectors, others "
                f"{self.dimension}: run `llm-memory reindex` before taking a snapshot."
            )
        self.dimension = int(vectors.shape[1])
        stem = f"parts/{len(self.parts):06d}"
        records = self.directory / f"{stem}.jsonl.gz"
        with records.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for item in items:
                gz.write(item.model_dump_json().encode() + b"\n")
        vector_file = self.directory / f"{stem}.npy"
        with vector_file.open("wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
        self.parts.append(
            {
                "user_id": user_id,
                "count": len(items),
                "records": _describe_file(self.directory, f"{stem}.jsonl.gz"),
                "vectors": {
                    **_describe_file(self.directory, f"{stem}.npy"),
                    "shape": list(vectors.shape),
                },
            }
        )
        self.counts[user_id] = self.counts.get(user_id, 0) + len(items)

    def add_history(self, user_id: str, events: Sequence[HistoryEvent]) -> None:
        """One user's history events, as a part of their own."""
        if not events:
            return
        name = f"parts/history-{len(self.history):06d}.jsonl.gz"
        with (
            (self.directory / name).open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        ):
            for event in events:
                gz.write(event.model_dump_json().encode() + b"\n")
        entry = {"user_id": user_id, "count": len(events), **_describe_file(self.directory, name)}
        self.history.append(entry)

    def finish(self, **fields: Any) -> dict[str, Any]:
        """Seal and write the manifest; ``fields`` are id, created_at, scope, backend…"""
        manifest = seal(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                **fields,
                "dimension": self.dimension,
                "counts": dict(sorted(self.counts.items())),
                "total": sum(self.counts.values()),
                "parts": self.parts,
                "history": self.history,
            }
        )
        write_json(self.directory / MANIFEST, manifest)
        return manifest


def _describe_file(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    return {"path": name, "sha256": sha256_file(path), "size": path.stat().st_size}


def pack(directory: Path, manifest: dict[str, Any], dest: Path) -> dict[str, Any]:
    """Tar the staged directory; returns the stored manifest (with the archive's checksum)."""
    names = [MANIFEST] + [spec["path"] for spec in _files(manifest)]
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(str(directory / name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with (directory / name).open("rb") as fh:
                tar.addfile(info, fh)
    return {**manifest, "archive_sha256": sha256_file(dest), "archive_size": dest.stat().st_size}


def verify_download(path: Path, stored: dict[str, Any], source: str) -> None:
    """Check a downloaded archive against the manifest its store kept beside it."""
    check_manifest(stored, source)
    size = path.stat().st_size
    if stored.get("archive_size") is not None and size != stored["archive_size"]:
        raise SnapshotInvalid(
            f"{source} is truncated or damaged: the archive has {size} bytes, its manifest says "
            f"{stored['archive_size']}. Restore another snapshot."
        )
    if stored.get("archive_sha256") and sha256_file(path) != stored["archive_sha256"]:
        raise SnapshotInvalid(
            f"{source} is corrupt: the archive's SHA-256 does not match its manifest."
        )


def unpack(archive: Path, directory: Path, source: str) -> dict[str, Any]:
    """Extract and verify every part of ``archive`` into ``directory``; returns its manifest.

    Only the members the manifest names are read, as regular files, by name: nothing in
    the tar can write outside ``directory``.
    """
    try:
        with tarfile.open(archive, "r:") as tar:
            manifest = check_manifest(_read_json_member(tar, MANIFEST, source), source)
            (directory / "parts").mkdir(parents=True, exist_ok=True)
            for spec in _files(manifest):
                _extract(tar, spec, directory, source)
    except (tarfile.TarError, EOFError, OSError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotInvalid(
            f"{source} is truncated or not a snapshot archive ({type(exc).__name__})."
        ) from exc
    write_json(directory / MANIFEST, manifest)
    return manifest


def _read_json_member(tar: tarfile.TarFile, name: str, source: str) -> Any:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise SnapshotInvalid(f"{source} is not an llm-memory snapshot (no {name}).") from None
    fh = tar.extractfile(member) if member.isreg() and member.size < 64 << 20 else None
    if fh is None:
        raise SnapshotInvalid(f"{source} is not an llm-memory snapshot ({name} is not a file).")
    try:
        return json.loads(fh.read())
    except ValueError:
        raise SnapshotInvalid(
            f"{source} is not an llm-memory snapshot ({name} is not JSON)."
        ) from None


def _safe_name(name: Any, source: str) -> str:
    if (
        not isinstance(name, str)
        or not name.startswith("parts/")
        or "/" in name[6:]
        or ".." in name
    ):
        raise SnapshotInvalid(
            f"{source} is corrupt: its manifest names an unexpected file {name!r}."
        )
    return name


def _extract(tar: tarfile.TarFile, spec: dict[str, Any], directory: Path, source: str) -> None:
    name = _safe_name(spec.get("path"), source)
    member = tar.getmember(name)
    fh = tar.extractfile(member) if member.isreg() else None
    if fh is None:
        raise SnapshotInvalid(f"{source} is corrupt: {name} is not a regular file.")
    digest = hashlib.sha256()
    with (directory / name).open("wb") as out:
        while block := fh.read(_CHUNK):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != spec.get("sha256") or member.size != spec.get("size"):
        raise SnapshotInvalid(
            f"{source} is corrupt: the checksum of {name} does not match its manifest."
        )


def verify_dir(directory: Path, source: str) -> dict[str, Any]:
    """Re-check a staged directory (manifest and every part) before it is applied."""
    try:
        manifest = check_manifest(json.loads((directory / MANIFEST).read_text()), source)
    except (OSError, ValueError) as exc:
        raise SnapshotInvalid(f"{source} is incomplete: {type(exc).__name__}.") from exc
    for spec in _files(manifest):
        name = _safe_name(spec["path"], source)
        path = directory / name
        if not path.is_file() or sha256_file(path) != spec["sha256"]:
            raise SnapshotInvalid(f"{source} is corrupt: the checksum of {name} does not match.")
    return manifest


def _files(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every file a manifest names, in order: each part's records and vectors, then each
    history part (checked one at a time, so the first bad name is the one reported)."""
    for part in manifest["parts"]:
        yield part["records"]
        yield part["vectors"]
    history = manifest.get("history") or []
    if not isinstance(history, list):
        raise SnapshotError("The snapshot is corrupt: its manifest's history is not a list.")
    yield from history


def read_history(
    directory: Path, manifest: dict[str, Any], source: str, users: set[str] | None = None
) -> Iterator[tuple[str, list[HistoryEvent]]]:
    """Each user's history events (snapshots older than history have none)."""
    for entry in manifest.get("history") or []:
        user_id = entry.get("user_id")
        if users is not None and user_id not in users:
            continue
        try:
            raw = gzip.decompress((directory / _safe_name(entry["path"], source)).read_bytes())
            events = [HistoryEvent.model_validate_json(line) for line in raw.splitlines() if line]
        except (OSError, ValueError, KeyError) as exc:
            raise SnapshotError(
                f"{source} is corrupt: the history of {user_id!r} cannot be read ({exc})."
            ) from exc
        if len(events) != entry.get("count") or any(e.user_id != user_id for e in events):
            raise SnapshotError(
                f"{source} is corrupt: the history of {user_id!r} does not match its manifest."
            )
        yield user_id, events


def read_part(
    directory: Path, part: dict[str, Any], source: str
) -> tuple[list[MemoryItem], np.ndarray]:
    """The records and vectors of one part, validated (user, count, shape, unique ids)."""
    user_id = part.get("user_id")
    try:
        raw = gzip.decompress(
            (directory / _safe_name(part["records"]["path"], source)).read_bytes()
        )
        items = [MemoryItem.model_validate_json(line) for line in raw.splitlines() if line]
        with (directory / _safe_name(part["vectors"]["path"], source)).open("rb") as fh:
            vectors = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        raise SnapshotInvalid(
            f"{source} is corrupt: a part of {user_id!r} cannot be read ({exc})."
        ) from exc
    if (
        len(items) != part.get("count")
        or vectors.dtype != np.float32
        or vectors.ndim != 2
        or vectors.shape[0] != len(items)
        or any(item.user_id != user_id for item in items)
        or len({item.id for item in items}) != len(items)
        or not all(is_memory_id(item.id) for item in items)
    ):
        raise SnapshotInvalid(
            f"{source} is corrupt: a part of {user_id!r} does not match its manifest."
        )
    return items, vectors


def iter_parts(
    directory: Path, manifest: dict[str, Any], source: str, users: set[str] | None = None
) -> Iterator[tuple[dict[str, Any], list[MemoryItem], np.ndarray]]:
    for part in manifest["parts"]:
        if users is None or part.get("user_id") in users:
            items, vectors = read_part(directory, part, source)
            yield part, items, vectors


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "PartWriter",
    "check_manifest",
    "iter_parts",
    "pack",
    "read_history",
    "read_part",
    "seal",
    "unpack",
    "verify_dir",
    "verify_download",
]
