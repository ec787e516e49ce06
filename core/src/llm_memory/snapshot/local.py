"""The built-in ``local`` snapshot store: a directory of ``<id>.tar`` + ``<id>.json`` pairs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from llm_memory.errors import NotFound, SnapshotError
from llm_memory.snapshot import SnapshotRef, SnapshotStore, check_snapshot_id, ref_from_manifest
from llm_memory.snapshot.files import fsync_dir, write_json


class LocalSnapshotStore(SnapshotStore):
    """Snapshots in a local directory (``SNAPSHOT_DIR``).

    The archive is copied to ``<id>.tar.part`` and renamed, then the manifest is written
    to ``<id>.json.tmp`` and renamed: only a snapshot whose manifest exists is listed, and
    the manifest appears in one step, after the archive is complete and synced.
    """

    name = "local"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _paths(self, snapshot_id: str) -> tuple[Path, Path]:
        check_snapshot_id(snapshot_id)
        return self.directory / f"{snapshot_id}.tar", self.directory / f"{snapshot_id}.json"

    def put(self, snapshot_id: str, archive: Path, manifest: dict[str, Any]) -> SnapshotRef:
        tar, meta = self._paths(snapshot_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = tar.with_name(tar.name + ".part")
            with Path(archive).open("rb") as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            partial.replace(tar)
            write_json(meta, manifest)
            fsync_dir(self.directory)
        except OSError as exc:
            for leftover in (tar.with_name(tar.name + ".part"), meta.with_name(meta.name + ".tmp")):
                leftover.unlink(missing_ok=True)
            raise SnapshotError(
                f"Cannot write snapshot {snapshot_id} to {self.directory}: {exc}"
            ) from exc
        return ref_from_manifest(snapshot_id, tar.stat().st_size, manifest, meta.stat().st_mtime)

    def fetch(self, snapshot_id: str, dest: Path) -> dict[str, Any]:
        tar, meta = self._paths(snapshot_id)
        manifest = self._manifest(meta)
        if manifest is None or not tar.is_file():
            raise NotFound(
                f"No snapshot {snapshot_id!r} in {self.directory}. Run `llm-memory snapshot list`."
            )
        shutil.copyfile(tar, dest)
        return manifest

    def list(self) -> list[SnapshotRef]:
        if not self.directory.is_dir():
            return []
        refs = []
        for meta in self.directory.glob("*.json"):
            tar = meta.with_suffix(".tar")
            manifest = self._manifest(meta)
            if manifest is None or not tar.is_file():
                continue
            refs.append(
                ref_from_manifest(meta.stem, tar.stat().st_size, manifest, meta.stat().st_mtime)
            )
        return sorted(refs, key=lambda r: (r.created_at, r.id), reverse=True)

    def delete(self, snapshot_id: str) -> None:
        tar, meta = self._paths(snapshot_id)
        if not meta.is_file():
            raise NotFound(
                f"No snapshot {snapshot_id!r} in {self.directory}. Run `llm-memory snapshot list`."
            )
        meta.unlink()  # unlisted first, so a crash leaves an orphan archive, never a broken entry
        tar.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {"snapshot_store": self.name, "path": str(self.directory.resolve())}

    @staticmethod
    def _manifest(meta: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
