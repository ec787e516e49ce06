"""Snapshot stores: places that keep snapshot archives (the archive format is the core's)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llm_memory.errors import SnapshotInvalid

if TYPE_CHECKING:
    from llm_memory.snapshot.engine import RestoreResult, Snapshots
    from llm_memory.snapshot.schedule import run_schedule, start_schedule

__all__ = [
    "RestoreResult",
    "SnapshotRef",
    "SnapshotStore",
    "Snapshots",
    "check_snapshot_id",
    "ref_from_manifest",
    "run_schedule",
    "start_schedule",
]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_snapshot_id(snapshot_id: str) -> str:
    """Snapshot ids become file names and object keys: letters, digits, '.', '_', '-'."""
    if not isinstance(snapshot_id, str) or not _ID.match(snapshot_id) or ".." in snapshot_id:
        raise SnapshotInvalid(
            f"Invalid snapshot id {snapshot_id!r}: use letters, digits, '.', '_' and '-' (see "
            "`llm-memory snapshot list`)."
        )
    return snapshot_id


class SnapshotRef(BaseModel):
    """A complete snapshot in a store: its id, time, size and manifest."""

    id: str
    created_at: datetime
    size: int
    manifest: dict[str, Any] = Field(default_factory=dict)


class SnapshotStore(ABC):
    """The snapshot-store contract. ``llm_memory_testing.SnapshotStoreContract`` tests it.

    ``put`` must be atomic from the point of view of ``list``: a snapshot whose upload
    failed half-way is never listed (write the archive first, the manifest last). A store
    only keeps bytes and a JSON manifest; the engine (:mod:`llm_memory.snapshot.engine`)
    makes and verifies archives. Ids are checked with :func:`check_snapshot_id`;
    ``SnapshotRef.created_at`` comes from ``manifest["created_at"]``. Failures the user
    must fix (missing bucket, denied access, unreachable endpoint) raise
    :class:`llm_memory.errors.SnapshotError` with a one-line message naming the cause.
    """

    name: str = ""

    @abstractmethod
    def put(self, snapshot_id: str, archive: Path, manifest: dict[str, Any]) -> SnapshotRef:
        """Store the archive file and its manifest under ``snapshot_id``."""

    @abstractmethod
    def fetch(self, snapshot_id: str, dest: Path) -> dict[str, Any]:
        """Download the archive to ``dest``; return its stored manifest.
        Raise :class:`llm_memory.errors.NotFound` for an unknown id."""

    @abstractmethod
    def list(self) -> list[SnapshotRef]:
        """Complete snapshots, newest first."""

    @abstractmethod
    def delete(self, snapshot_id: str) -> None:
        """Remove a snapshot; unknown ids raise :class:`llm_memory.errors.NotFound`."""

    def describe(self) -> dict[str, Any]:
        return {"snapshot_store": self.name}


def ref_from_manifest(
    snapshot_id: str, size: int, manifest: dict[str, Any], mtime: float
) -> SnapshotRef:
    """A :class:`SnapshotRef` whose time comes from the manifest (else the file's mtime)."""
    try:
        created = datetime.fromisoformat(str(manifest["created_at"]))
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    except (KeyError, ValueError):
        created = datetime.fromtimestamp(mtime, UTC)
    return SnapshotRef(id=snapshot_id, created_at=created, size=size, manifest=manifest)


def __getattr__(name: str) -> Any:
    # The engine pulls in numpy; keep `import llm_memory.snapshot` light for plugins.
    if name in ("Snapshots", "RestoreResult"):
        from llm_memory.snapshot import engine

        return getattr(engine, name)
    if name in ("run_schedule", "start_schedule"):
        from llm_memory.snapshot import schedule

        return getattr(schedule, name)
    raise AttributeError(f"module 'llm_memory.snapshot' has no attribute {name!r}")
