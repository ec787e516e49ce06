"""Snapshot stores: places that keep snapshot archives (the archive format is the core's)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["SnapshotRef", "SnapshotStore"]


class SnapshotRef(BaseModel):
    """A complete snapshot in a store: its id, time, size and manifest."""

    id: str
    created_at: datetime
    size: int
    manifest: dict[str, Any] = Field(default_factory=dict)


class SnapshotStore(ABC):
    """The snapshot-store contract. ``llm_memory.testing.SnapshotStoreContract`` tests it.

    ``put`` must be atomic from the point of view of ``list``: a snapshot whose upload
    failed half-way is never listed (write the archive first, the manifest last).
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
