"""Access tracking for retrieval, written behind the caller's back in batches.

Every ``retrieve`` bumps ``access_count`` and ``last_accessed_at`` of what it returns.
Writing that synchronously would turn every read into a write (a new table version on
LanceDB), so touches are buffered and flushed by a background timer, when the buffer is
full, before any operation that reads those fields (list, purge, export, stats), and on
close or interpreter exit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from llm_memory.models import ScoredMemory


class _Recorder(Protocol):
    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None: ...


class AccessTracker:
    """Buffers touches and writes them through ``store.record_access`` (the indexed store,
    which takes its writer lock: one store call for every user)."""

    def __init__(self, store: _Recorder, delay: float = 2.0, max_pending: int = 2000):
        self.store = store
        self.delay = delay
        self.max_pending = max_pending
        self._pending: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._mutex = threading.Lock()
        self._timer: threading.Timer | None = None

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
            full = len(self._pending) >= self.max_pending
            if not full and self._timer is None and self._pending:
                self._timer = threading.Timer(self.delay, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()

    def flush(self) -> None:
        with self._mutex:
            pending, self._pending = self._pending, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending:
            return
        self.store.record_access(pending)
