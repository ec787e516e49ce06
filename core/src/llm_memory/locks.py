"""A readers-writer lock: many readers at once, or one writer (a restore) alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class OwnedLock:
    """A re-entrant lock that knows which thread holds it (``threading.RLock`` keeps that
    private): :meth:`held` is true only in the holding thread."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner = threading.get_ident()
        self._depth += 1
        return True

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("release of a lock this thread does not hold")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class ReadWriteLock:
    """Readers share; a writer waits until every reader in flight has finished and keeps
    new ones out until it is done. Reads may nest (a reader never waits for a reader).
    Never take another lock that a writer may hold while reading."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers: dict[int, int] = {}  # thread -> how deeply it is reading
        self._writer: int | None = None

    @contextmanager
    def reading(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            # A thread already reading goes on even past a waiting writer (it would
            # otherwise wait for itself).
            while self._writer not in (None, me) and me not in self._readers:
                self._cond.wait()
            self._readers[me] = self._readers.get(me, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._readers[me] -= 1
                if not self._readers[me]:
                    del self._readers[me]
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            while self._writer is not None:
                self._cond.wait()
            self._writer = me
            while any(thread != me for thread in self._readers):
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()
