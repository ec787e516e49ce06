"""Scheduled snapshots: ``SNAPSHOT_INTERVAL`` in ``serve``, or ``llm-memory snapshot schedule``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm_memory.errors import ValidationFailed
from llm_memory.models import utcnow
from llm_memory.snapshot import SnapshotRef

logger = logging.getLogger("llm_memory.snapshot")

#: After a failed snapshot, wait this long (or the interval, if shorter) before trying again.
RETRY_SECONDS = 300.0


def _snapshots(manager: Any) -> Any:
    found = getattr(manager, "snapshots", None)
    if found is None:
        from llm_memory.snapshot.engine import Snapshots

        found = Snapshots(manager)
    return found


def run_schedule(
    manager: Any,
    interval_hours: float,
    keep: int | None = None,
    stop_event: threading.Event | None = None,
    *,
    on_snapshot: Callable[[SnapshotRef, list[str]], None] | None = None,
    max_snapshots: int | None = None,
    snapshots: Any = None,
) -> int:
    """Take a snapshot of every user every ``interval_hours`` until ``stop_event`` is set.

    The first one is due an interval after the newest existing snapshot (at once if there
    is none, or it is older), so restarts do not reset the clock. After each snapshot the
    store is pruned to the ``keep`` newest. A failure is logged and retried later; it
    never ends the loop. Returns how many snapshots were taken. ``snapshots`` defaults to
    ``manager.snapshots`` (or a :class:`Snapshots` of the manager).
    """
    _check(interval_hours, keep)
    snapshots = snapshots or _snapshots(manager)
    interval = interval_hours * 3600.0
    stop = stop_event or threading.Event()
    taken, retry_at = 0, 0.0
    while not stop.is_set() and (max_snapshots is None or taken < max_snapshots):
        delay = max(_due_in(snapshots, interval), retry_at - time.monotonic())
        if stop.wait(max(delay, 0.0)):
            break
        try:
            ref = snapshots.create()
            pruned = snapshots.prune(keep) if keep else []
        except Exception as exc:
            logger.error("scheduled snapshot failed: %s", exc)
            retry_at = time.monotonic() + min(interval, RETRY_SECONDS)
            continue
        taken += 1
        logger.info("scheduled snapshot %s taken; pruned %d", ref.id, len(pruned))
        if on_snapshot is not None:
            on_snapshot(ref, pruned)
    return taken


def _check(interval_hours: float, keep: int | None) -> None:
    if interval_hours <= 0:
        raise ValidationFailed(
            f"The snapshot interval must be positive, got {interval_hours} hours."
        )
    if keep is not None and keep < 1:
        raise ValidationFailed(f"keep must be at least 1, got {keep}.")


def _due_in(snapshots: Any, interval: float) -> float:
    try:
        refs = [r for r in snapshots.list() if not (r.manifest.get("scope") or {}).get("user_id")]
    except Exception as exc:
        logger.error("cannot list snapshots: %s", exc)
        return min(interval, RETRY_SECONDS)
    if not refs:
        return 0.0
    return (refs[0].created_at - utcnow()).total_seconds() + interval


@dataclass
class ScheduleHandle:
    """A schedule running in a background thread; ``stop()`` ends it."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float | None = 30.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_schedule(
    manager: Any, interval_hours: float | None = None, keep: int | None = None
) -> ScheduleHandle | None:
    """Run :func:`run_schedule` in a daemon thread (for ``serve``).

    ``interval_hours`` and ``keep`` default to ``SNAPSHOT_INTERVAL`` and ``SNAPSHOT_KEEP``;
    returns None when no interval is configured.
    """
    settings = getattr(manager, "settings", None)
    interval = (
        interval_hours
        if interval_hours is not None
        else getattr(settings, "snapshot_interval", None)
    )
    keep = keep if keep is not None else getattr(settings, "snapshot_keep", None)
    if not interval:
        return None
    _check(interval, keep)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_schedule,
        args=(manager, interval, keep, stop),
        name="llm-memory-snapshots",
        daemon=True,
    )
    thread.start()
    return ScheduleHandle(thread, stop)
