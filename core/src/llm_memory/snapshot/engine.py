"""Snapshots of a memory store: create, list, restore, delete, prune.

>>> snapshots = Snapshots(manager)          # or manager.snapshots
>>> ref = snapshots.create()               # every user; create(user_id="u1") for one
>>> snapshots.restore("latest")            # or an id, or path=Path("export.tar")

A snapshot is logical: records and vectors, independent of the backend, so a snapshot
of a Chroma store restores into LanceDB. Restoring under another embedder re-embeds.
See :mod:`llm_memory.snapshot.journal` for how a restore survives a crash. While a
restore applies it holds the indexed store's :meth:`~llm_memory.storage.indexed.IndexedStore.exclusive`
lock, so readers in this process never see a half-restored store. The engine needs only
the narrow :class:`SnapshotSource` (a :class:`~llm_memory.manager.MemoryManager` is one).
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llm_memory import validation
from llm_memory.embedding import Embedder
from llm_memory.errors import (
    NotFound,
    SnapshotError,
    SnapshotInvalid,
    ValidationFailed,
    one_line,
)
from llm_memory.models import utcnow
from llm_memory.plugins import core_version
from llm_memory.snapshot import SnapshotRef, SnapshotStore, check_snapshot_id
from llm_memory.snapshot.archive import pack, remove_tree, unpack, verify_dir, verify_download
from llm_memory.snapshot.journal import Journal, store_identity
from llm_memory.snapshot.transfer import PAGE, Progress, apply, dump, stage
from llm_memory.storage.indexed import IndexedStore

if TYPE_CHECKING:
    from llm_memory.settings import Settings

logger = logging.getLogger("llm_memory.snapshot")


class SnapshotSource(Protocol):
    """What snapshots need of the memory they back up: its store, embedder and settings."""

    memories: IndexedStore  #: written and read under its locks
    embedder: Embedder  #: re-embeds a snapshot taken with another embedder
    settings: Settings  #: ``snapshot_dir``, ``collection``, ``vector_store_dir``

    @property
    def snapshot_store(self) -> SnapshotStore: ...

    def flush(self) -> None:
        """Write pending access statistics, so a snapshot holds them."""


@dataclass
class RestoreResult:
    """What a restore did."""

    snapshot_id: str
    user_id: str | None
    restored: int
    reembedded: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Snapshots:
    """Snapshot operations on one :class:`SnapshotSource` (a memory manager)."""

    def __init__(
        self,
        manager: SnapshotSource,
        store: SnapshotStore | None = None,
        *,
        journal_dir: str | Path | None = None,
        page: int = PAGE,
    ) -> None:
        self.manager = manager
        self._store = store
        default = Path(manager.settings.snapshot_dir) / ".journal"
        self.journal_dir = Path(journal_dir or default).resolve()
        self.page = page

    @property
    def store(self) -> SnapshotStore:
        if self._store is None:
            self._store = self.manager.snapshot_store
        return self._store

    def _journal(self) -> Journal:
        memories = self.manager.memories
        persistent = "persistent" in memories.capabilities
        identity = store_identity(memories, self.manager.settings)
        if not persistent:  # two in-process stores are two stores, wherever settings point
            identity["object"] = str(id(memories.backend))
        return Journal(self.journal_dir, identity, persistent=persistent)

    def _history(self) -> Any:
        """The manager's history log: snapshots carry it, restores merge it back."""
        return getattr(self.manager, "history_log", None)

    @staticmethod
    def _users(store: Any, log: Any) -> list[str]:
        """Users with memories, and users with only the history of forgotten ones."""
        return sorted(set(store.users()) | set(log.users() if log is not None else ()))

    # -- create, list, delete, prune -----------------------------------------------------
    def create(
        self, user_id: str | None = None, *, progress: Progress | None = None
    ) -> SnapshotRef:
        """Archive every memory (or one user's) with its vector; returns the stored snapshot."""
        self.recover()
        store = self.manager.memories
        only = None if user_id is None else validation.owner(user_id)
        created = utcnow()
        snapshot_id = (
            f"{created:%Y%m%dT%H%M%S}{created.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"
        )
        with (
            self._journal().locked(shared=True),
            tempfile.TemporaryDirectory(prefix="llm-memory-snapshot-") as tmp,
        ):
            self.manager.flush()
            log = self._history()
            users = self._users(store, log) if only is None else [only]
            writer = dump(store, users, Path(tmp) / "parts", progress, self.page, log)
            info = store.embedding_info()
            manifest = writer.finish(
                id=snapshot_id,
                created_at=created.isoformat(),
                scope={"user_id": only},
                backend=json.loads(json.dumps(store.describe(), default=str)),
                embedder=info.model_dump() if info else None,
                llm_memory_version=core_version(),
            )
            stored = pack(Path(tmp) / "parts", manifest, Path(tmp) / "snapshot.tar")
            ref = self.store.put(snapshot_id, Path(tmp) / "snapshot.tar", stored)
        logger.info("snapshot %s: %d memories, %d bytes", ref.id, manifest["total"], ref.size)
        return ref

    def list(self) -> list[SnapshotRef]:
        """Complete snapshots, newest first."""
        return self.store.list()

    def get(self, snapshot_id: str = "latest", user_id: str | None = None) -> SnapshotRef:
        """One snapshot; ``"latest"`` is the newest that covers ``user_id`` (all users if None)."""
        refs = self.list()
        if snapshot_id == "latest":
            for ref in refs:
                scope = (ref.manifest.get("scope") or {}).get("user_id")
                if scope is None or scope == user_id:
                    return ref
            whose = f" covering user {user_id!r}" if user_id else " of all users"
            raise NotFound(f"No snapshot{whose} yet: take one with `llm-memory snapshot create`.")
        check_snapshot_id(snapshot_id)
        for ref in refs:
            if ref.id == snapshot_id:
                return ref
        raise NotFound(f"No snapshot {snapshot_id!r}. Run `llm-memory snapshot list` to see them.")

    def delete(self, snapshot_id: str) -> None:
        self.store.delete(self.get(snapshot_id).id)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest snapshots of each scope; returns the deleted ids.

        Snapshots of all users and each user's exports are counted apart, so taking
        exports never pushes the last full snapshots out.
        """
        if keep < 0:
            raise ValidationFailed(f"keep must be 0 or more, got {keep}.")
        seen: dict[str | None, int] = {}
        deleted = []
        for ref in self.list():
            scope = (ref.manifest.get("scope") or {}).get("user_id")
            seen[scope] = seen.get(scope, 0) + 1
            if seen[scope] > keep:
                self.store.delete(ref.id)
                deleted.append(ref.id)
        return deleted

    # -- restore ---------------------------------------------------------------------------
    def restore(
        self,
        snapshot_id: str = "latest",
        *,
        user_id: str | None = None,
        path: str | Path | None = None,
        progress: Progress | None = None,
    ) -> RestoreResult:
        """Replace the store's contents (or one user's) with a snapshot's.

        Everything is downloaded, verified and staged before the store is touched: a
        corrupt, truncated or foreign archive raises :class:`SnapshotError` and changes
        nothing. ``path`` restores an archive file instead of a stored snapshot.
        """
        memories = self.manager.memories
        journal = self._journal()
        with journal.locked():
            self._recover_locked(journal)
            journal.begin()
            with journal.discard_on_error():
                label, manifest, scope, staged, reembedded = self._stage(
                    journal, snapshot_id, user_id, path, progress
                )
            with memories.writing():  # readers go on while the backup is taken
                with journal.discard_on_error():
                    backup = self._backup(memories, scope, journal, progress)
                users = None if scope is None else [scope]
                with memories.exclusive():
                    journal.commit({"snapshot": label, "users": users})
                    restored = self._apply(journal, staged, backup, users, label, progress)
        logger.info("%s restored: %d memories", label, restored)
        return RestoreResult(str(manifest.get("id") or label), scope, restored, reembedded)

    def _stage(
        self,
        journal: Journal,
        snapshot_id: str,
        user_id: str | None,
        path: str | Path | None,
        progress: Progress | None,
    ) -> tuple[str, dict[str, Any], str | None, dict[str, Any], bool]:
        """Download, verify and validate; re-embed if needed. Nothing touches the store."""
        source = journal.dir / "source"
        label, manifest = self._fetch(snapshot_id, user_id, path, source)
        scope = _scope(manifest, user_id, label)
        users = None if scope is None else {scope}
        embedder = self.manager.embedder
        staged, reembedded = stage(
            source, manifest, journal.target, users, embedder, label, progress
        )
        remove_tree(source)
        return label, manifest, scope, staged, reembedded

    def _fetch(
        self, snapshot_id: str, user_id: str | None, path: str | Path | None, dest: Path
    ) -> tuple[str, dict[str, Any]]:
        if path is not None:
            label = f"Archive {str(path)!r}"
            if not Path(path).is_file():
                raise NotFound(f"{label} does not exist.")
            return label, unpack(Path(path), dest, label)
        ref = self.get(snapshot_id, user_id)
        label = f"Snapshot {ref.id}"
        download = dest.parent / "download.tar"
        stored = self.store.fetch(ref.id, download)
        verify_download(download, stored, label)
        manifest = unpack(download, dest, label)
        download.unlink()
        if (
            manifest.get("manifest_sha256") != stored.get("manifest_sha256")
            or manifest.get("id") != ref.id
        ):
            raise SnapshotInvalid(
                f"{label} is corrupt: the archive does not match the manifest stored beside it."
            )
        return label, manifest

    def _backup(
        self, raw: IndexedStore, scope: str | None, journal: Journal, progress: Progress | None
    ) -> dict[str, Any]:
        self.manager.flush()
        log = self._history()
        users = self._users(raw, log) if scope is None else [scope]
        writer = dump(raw, users, journal.backup, progress, self.page, log)
        info = raw.embedding_info()
        return writer.finish(
            id="pre-restore",
            created_at=utcnow().isoformat(),
            scope={"user_id": scope},
            embedder=info.model_dump() if info else None,
        )

    def _apply(
        self,
        journal: Journal,
        staged: dict[str, Any],
        backup: dict[str, Any],
        users: list[str] | None,
        label: str,
        progress: Progress | None,
    ) -> int:
        memories = self.manager.memories
        try:
            restored = apply(
                memories, journal.target, staged, users, label, progress, self._history()
            )
        except Exception as exc:
            try:
                apply(
                    memories,
                    journal.backup,
                    backup,
                    users,
                    "the pre-restore backup",
                    history_log=self._history(),
                )
            except Exception as again:
                raise SnapshotError(
                    f"Restoring {label} failed ({one_line(exc, None)}) and so did rolling it back "
                    f"({one_line(again, None)}); the journal in {journal.dir} is retried when the store "
                    "is next opened."
                ) from exc
            journal.finish()
            raise SnapshotError(
                f"Restoring {label} failed, the store was rolled back: {one_line(exc, None)}"
            ) from exc
        journal.finish()
        return restored

    # -- recovery --------------------------------------------------------------------------
    def recover(self) -> str | None:
        """Finish or undo a restore that a crash interrupted; returns what it did, if anything.

        ``"discarded"``: it died before changing anything; ``"rolled forward"``: the snapshot
        was applied; ``"rolled back"``: applying failed, the pre-restore state is back.
        """
        journal = self._journal()
        if not journal.persistent or not journal.pending():
            return None
        with journal.locked():
            return self._recover_locked(journal)

    def _recover_locked(self, journal: Journal) -> str | None:
        if not journal.persistent or not journal.pending():
            return None
        plan = journal.plan()
        if plan is None:
            journal.finish()
            return "discarded"
        if not plan:
            raise SnapshotError(
                f"The restore journal in {journal.dir} is unreadable; move it away to continue."
            )
        what = str(plan.get("snapshot") or "a snapshot")  # "Snapshot <id>", "Archive '<path>'"
        label = f"the interrupted restore of {what[:1].lower()}{what[1:]}"
        # Said before it starts (on stderr, for the CLI): finishing takes as long as the
        # restore itself, and whatever command opened the store waits for it.
        logger.warning("Finishing %s: applying it again...", label)
        with self.manager.memories.exclusive() as memories:
            try:
                apply(
                    memories,
                    journal.target,
                    verify_dir(journal.target, label),
                    plan.get("users"),
                    label,
                    _now_and_then(label),
                    history_log=self._history(),
                )
                outcome = "rolled forward"
            except Exception as exc:
                backup_label = "the pre-restore backup"
                logger.warning(
                    "Finishing %s failed (%s): rolling it back to %s...",
                    label,
                    one_line(exc, None),
                    backup_label,
                )
                try:
                    backup = verify_dir(journal.backup, backup_label)
                    apply(
                        memories,
                        journal.backup,
                        backup,
                        plan.get("users"),
                        backup_label,
                        history_log=self._history(),
                    )
                except Exception as again:
                    raise SnapshotError(
                        f"Could not finish {label} ({one_line(exc, None)}) nor roll it back "
                        f"({one_line(again, None)}); its data is kept in {journal.dir}."
                    ) from exc
                outcome = "rolled back"
        journal.finish()
        logger.warning("Done: %s was %s.", label, outcome)
        return outcome


#: Seconds between the progress lines of a recovery (a restore finished by the next command).
REPORT_EVERY = 5.0


def _now_and_then(label: str) -> Progress:
    """Progress of a recovery as a log line every :data:`REPORT_EVERY` seconds: whoever
    waits for it sees it move."""
    last = time.monotonic()

    def report(phase: str, done: int, total: int) -> None:
        nonlocal last
        if phase == "apply" and 0 < done < total and time.monotonic() - last >= REPORT_EVERY:
            last = time.monotonic()
            logger.warning("Finishing %s: %d of %d memories applied...", label, done, total)

    return report


def _scope(manifest: dict[str, Any], user_id: str | None, label: str) -> str | None:
    only = (manifest.get("scope") or {}).get("user_id")
    if only is not None and user_id is not None and only != user_id:
        raise SnapshotInvalid(f"{label} holds only the memories of {only!r}, not of {user_id!r}.")
    return validation.owner(user_id) if user_id is not None else only
