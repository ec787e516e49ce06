"""The restore journal: what makes a restore all-or-nothing across a crash.

A restore stages everything it needs in a journal directory before it touches the store:

1. ``target/``: the snapshot, downloaded, checksummed, every record validated, and
   re-embedded if the configured embedder differs from the snapshot's;
2. ``backup/``: the current contents of the scope being restored (all users, or one);
3. ``plan.json``, written atomically: the commit point. From here on, an interrupted
   restore is rolled forward (``target`` applied again; applying is idempotent) when the
   store is next opened through :meth:`Snapshots.recover`; if the roll-forward itself
   fails, ``backup`` is applied instead.

A crash before ``plan.json`` exists leaves the store untouched and the directory is
removed on recovery. The journal lives under ``<snapshot_dir>/.journal/<store key>``; the
key hashes the store's identity (backend, location, collection), so two stores never share
one. An exclusive ``fcntl`` lock on ``<store key>.lock`` is held while a restore or a
recovery runs; snapshot creation takes it shared, so no snapshot captures a half restore.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from llm_memory.errors import SnapshotError
from llm_memory.snapshot.archive import remove_tree
from llm_memory.snapshot.files import fsync_dir, write_json

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: restores are guarded within one process only
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from llm_memory.settings import Settings
    from llm_memory.storage.indexed import IndexedStore

PLAN = "plan.json"


def store_identity(store: IndexedStore, settings: Settings) -> dict[str, str]:
    """What names one store's data: backend, where it lives (``location()``, which makes no
    request), which collection."""
    identity = {
        "backend": str(store.name),
        "collection": str(settings.collection),
        "vector_store_dir": str(Path(settings.vector_store_dir).resolve()),
    }
    where = store.location()
    if where is not None:
        identity["location"] = str(where)
    return identity


class Journal:
    """The journal directory of one store, and its lock.

    A store that does not persist (``"persistent"`` not in its capabilities) loses its
    data with the process, so nothing needs to survive a crash: its journal lives in a
    private temporary directory, made on :meth:`begin`, and its lock is a thread lock.
    """

    _thread_locks: ClassVar[dict[str, threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: Path, identity: dict[str, str], persistent: bool = True) -> None:
        self.key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.root = root
        self.identity = identity
        self.persistent = persistent
        self.dir = root / self.key
        self.lock_path = root / f"{self.key}.lock"

    @property
    def target(self) -> Path:
        return self.dir / "target"

    @property
    def backup(self) -> Path:
        return self.dir / "backup"

    @property
    def plan_path(self) -> Path:
        return self.dir / PLAN

    @contextlib.contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """Hold the store's restore lock; refuse at once if someone else holds it."""
        if not self.persistent or fcntl is None:
            with self._registry_lock:
                lock = self._thread_locks.setdefault(self.key, threading.Lock())
            if not lock.acquire(blocking=False):
                raise _busy()
            try:
                yield
            finally:
                lock.release()
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy() from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def begin(self) -> None:
        if not self.persistent:
            self.dir = Path(tempfile.mkdtemp(prefix="llm-memory-restore-"))
            return
        remove_tree(self.dir)
        self.dir.mkdir(parents=True)

    @contextlib.contextmanager
    def discard_on_error(self) -> Iterator[None]:
        """Before the commit, any failure (or interrupt) forgets the restore entirely."""
        try:
            yield
        except BaseException:
            self.finish()
            raise

    def commit(self, plan: dict[str, Any]) -> None:
        """Write the plan: from now on the restore is rolled forward, whatever happens."""
        write_json(self.plan_path, {**plan, "identity": self.identity})
        fsync_dir(self.dir)

    def plan(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.plan_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pending(self) -> bool:
        return self.dir.exists()

    def finish(self) -> None:
        """Forget the restore: the plan first (one atomic unlink), then the staged data."""
        self.plan_path.unlink(missing_ok=True)
        fsync_dir(self.dir)
        remove_tree(self.dir)


def _busy() -> SnapshotError:
    return SnapshotError(
        "A restore of this store is in progress; wait for it to finish and try again."
    )
