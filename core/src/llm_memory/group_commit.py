"""Group commit: concurrent writes share one store batch.

Every caller validates its own items first (an invalid call fails alone, before it
joins), then joins the open group. The first caller of a group leads it: when writes
have lately been arriving together it waits up to ``window`` seconds for others, or
until the group holds ``max_items``; then it takes the writer lock, closes the group
(whoever arrived while it waited for the lock is in it too) and commits the group as one
batch. Every caller gets its own result, or the error of its batch's commit; a call
returns only once its batch is committed, so durability is that of a single write.
A lone writer does not wait: the window opens only after a batch of several calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["Call", "GroupCommit"]


class Call:
    """One caller's part of a batch: its items, who is writing, and its outcome."""

    __slots__ = ("actor", "done", "error", "items", "result")

    def __init__(self, items: Sequence[Any], actor: str | None) -> None:
        self.items = items
        self.actor = actor
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """Merges concurrent :meth:`submit` calls into batches that ``commit`` stores.

    ``commit(calls)`` stores every call's items together and sets each call's ``result``
    (or ``error``); ``lock`` is the writer lock it runs under.
    """

    def __init__(
        self,
        commit: Callable[[list[Call]], None],
        lock: Callable[[], AbstractContextManager[Any]],
        window: float = 0.002,
        max_items: int = 256,
    ) -> None:
        self.commit = commit
        self.lock = lock
        self.window = window
        self.max_items = max_items
        self._cond = threading.Condition()
        self._open: list[Call] = []
        self._size = 0
        self._leading = False  # a leader is gathering the open group
        self._together = False  # the last batch had several calls
        #: Batches committed and calls in them (for benchmarks and tests).
        self.batches = 0
        self.calls = 0

    def submit(self, items: Sequence[Any], actor: str | None = None) -> Any:
        call = Call(items, actor)
        with self._cond:
            self._open.append(call)
            self._size += len(items)
            lead = not self._leading
            self._leading = True
            if self._size >= self.max_items:
                self._cond.notify_all()
        if not lead:
            call.done.wait()
            return call.outcome()
        self._gather()
        with self.lock():
            with self._cond:
                batch, self._open, self._size, self._leading = self._open, [], 0, False
            self._together = len(batch) > 1
            self.batches += 1
            self.calls += len(batch)
            try:
                self.commit(batch)
            except BaseException as exc:  # the batch failed: each of its callers hears it
                for member in batch:
                    member.error = member.error or exc
            finally:
                for member in batch:
                    member.done.set()
        return call.outcome()

    def _gather(self) -> None:
        """Wait for more calls, but only when calls have lately come together."""
        if not self._together or self.window <= 0:
            return
        deadline = time.monotonic() + self.window
        with self._cond:
            while self._size < self.max_items:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)
