"""Built-in snapshot store: ``local`` (a directory, ``SNAPSHOT_DIR``)."""

from __future__ import annotations

from typing import Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _local(options: None, settings: Any) -> Any:
    from llm_memory.snapshot.local import LocalSnapshotStore

    return LocalSnapshotStore(settings.snapshot_dir)


@hookimpl
def register_snapshot_stores() -> list[Provider]:
    return [Provider("local", _local, None, "Archives in a local directory (SNAPSHOT_DIR)")]
