"""Access tracking for retrieval, written behind the caller's back in batches.

Every ``retrieve`` bumps ``access_count`` and ``last_accessed_at`` of what it returns.
Writing that synchronously would turn every read into a write (a new table version on
LanceDB), so touches are buffered and flushed by a background timer. The rate is bounded:
read-only traffic causes **at most one flush every** :data:`FLUSH_SECONDS` (2 s) per
manager, however many reads arrive (each flush is one ``record_access`` call for every
user; on LanceDB one ``UPDATE`` commit per 1,000 memories touched). Besides the timer,
pending touches are written before any operation that reads those fields (list, purge,
export, stats), on ``flush()``, and on close or interpreter exit. A flush never counts as growth for a backend's compaction or optimize.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from llm_memory.models import ScoredMemory

__all__ = ["FLUSH_SECONDS", "AccessTracker"]

#: Seconds between two timed flushes of access statistics (the bound on their rate).
FLUSH_SECONDS = 2.0


class _Recorder(Protocol):
    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None: ...


class AccessTracker:
    """Buffers touches and writes them through ``store.record_access`` (the indexed store,
    which takes its writer lock: one store call for every user).

    The first touch after a flush starts a timer of ``delay`` seconds; touches until it
    fires join the same flush. The buffer holds one entry per distinct memory touched in
    that time, so it stays as small as the set of memories read within ``delay``.
    """

    def __init__(self, store: _Recorder, delay: float = FLUSH_SECONDS):
        self.store = store
        self.delay = delay
        self._pending: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._mutex = threading.Lock()
        self._timer: threading.Timer | None = None
        #: Flushes that wrote something (for benchmarks and tests).
        self.flushes = 0

    def touch(self, scored: Sequence[ScoredMemory], at: datetime) -> None:
        with self._mutex:
            for s in scored:
                key = (s.memory.user_id, s.memory.id)
                count, _ = self._pending.get(key, (0, at))
                self._pending[key] = (count + 1, at)
                s.memory = s.memory.model_copy(
                    update={
                        "access_count": s.memory.access_count + count + 1,
                        "last_accessed_at": at,
                    }
                )
            if self._timer is None and self._pending:
                self._timer = threading.Timer(self.delay, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._mutex:
            pending, self._pending = self._pending, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending:
            return
        self.flushes += 1
        self.store.record_access(pending)
