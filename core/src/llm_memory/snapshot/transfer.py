"""Moving memories between a store and a staged snapshot directory: dump, stage, apply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llm_memory.embedding import Embedder
from llm_memory.errors import SnapshotError, SnapshotInvalid
from llm_memory.models import EmbedderInfo
from llm_memory.snapshot.archive import PartWriter, iter_parts, read_history
from llm_memory.storage import MemoryFilter
from llm_memory.storage.indexed import IndexedStore

#: ``progress(phase, done, total)``; phases: dump, verify, embed, apply.
Progress = Callable[[str, int, int], None]
PAGE = 1000
EMBED_BATCH = 256


def _noop(phase: str, done: int, total: int) -> None:
    pass


def dump(
    store: IndexedStore,
    users: Sequence[str],
    directory: Path,
    progress: Progress | None = None,
    page: int = PAGE,
    history_log: Any = None,
) -> PartWriter:
    """Write every memory (and vector) of ``users`` as parts in ``directory``, and the
    history of ``users`` from ``history_log`` if given."""
    progress = progress or _noop
    total = sum(store.count(user) for user in users)
    writer, done = PartWriter(directory), 0
    progress("dump", 0, total)
    for user in users:
        seen: set[str] = set()
        offset = 0
        while True:
            batch = store.list(MemoryFilter(user_id=user), limit=page, offset=offset)
            fresh = [item for item in batch if item.id not in seen]
            vectors = store.get_vectors(user, [item.id for item in fresh])
            missing = [item.id for item in fresh if item.id not in vectors]
            if missing and store.get(user, missing):
                raise SnapshotError(
                    f"Storage backend {store.name!r} returned no vector for memory {missing[0]!r} of "
                    f"{user!r}; run `llm-memory reindex` and take the snapshot again."
                )
            fresh = [item for item in fresh if item.id in vectors]  # the others were just deleted
            seen.update(item.id for item in fresh)
            if fresh:
                writer.add(
                    user, fresh, np.asarray([vectors[item.id] for item in fresh], dtype=np.float32)
                )
            done += len(fresh)
            progress("dump", done, max(total, done))
            if len(batch) < page:
                break
            offset += page
    if history_log is not None:
        for user in users:
            writer.add_history(user, list(history_log.user_events(user)))
    return writer


def stage(
    source: Path,
    manifest: dict[str, Any],
    target: Path,
    users: set[str] | None,
    embedder: Embedder,
    label: str,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], bool]:
    """Validate every record of ``source`` and write the parts to apply into ``target``.

    Vectors made by another embedder (name, model or dimension) are replaced by the
    configured embedder's. Returns the staged manifest and whether it re-embedded.
    """
    progress = progress or _noop
    recorded = manifest.get("embedder")
    wanted = embedder.info()
    reembed = recorded is None or _info(recorded, label) != wanted
    phase = "embed" if reembed else "verify"
    total = sum(p["count"] for p in manifest["parts"] if users is None or p["user_id"] in users)
    writer, done = PartWriter(target), 0
    progress(phase, 0, total)
    for part, items, vectors in iter_parts(source, manifest, label, users):
        if reembed:
            vectors = _embed(embedder, [item.content for item in items])
        elif vectors.shape[1] != wanted.dimension:
            raise SnapshotError(
                f"{label} is corrupt: its vectors do not have {wanted.dimension} dimensions."
            )
        writer.add(part["user_id"], items, vectors)
        done += len(items)
        progress(phase, done, total)
    for user_id, events in read_history(source, manifest, label, users):
        writer.add_history(user_id, events)
    staged = writer.finish(
        id=manifest.get("id"),
        created_at=manifest.get("created_at"),
        scope={"user_id": manifest.get("scope", {}).get("user_id")},
        embedder=wanted.model_dump(),
    )
    return staged, reembed


def _info(data: Any, label: str) -> EmbedderInfo:
    try:
        return EmbedderInfo.model_validate(data)
    except ValueError:
        raise SnapshotInvalid(
            f"{label} is corrupt: its manifest names no valid embedder."
        ) from None


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    out: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        chunk = texts[start : start + EMBED_BATCH]
        try:
            vectors = embedder.embed_documents(chunk)
        except Exception as exc:
            raise SnapshotError(
                f"Re-embedding the snapshot with {embedder.name} failed, the store was not touched: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if len(vectors) != len(chunk):
            raise SnapshotError(
                f"Embedder {embedder.name} returned {len(vectors)} vectors for {len(chunk)} texts."
            )
        out.extend(vectors)
    return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


def apply(
    store: IndexedStore,
    directory: Path,
    manifest: dict[str, Any],
    users: Sequence[str] | None,
    label: str,
    progress: Progress | None = None,
    history_log: Any = None,
) -> int:
    """Make the store (all of it, or only ``users``) hold exactly the staged parts.

    Idempotent, so an interrupted apply can simply run again. New versions are upserted
    before the memories the snapshot does not hold are deleted, so the store is never
    emptied on the way (unless the recorded embedder must change, which needs a clear).
    With ``history_log``, the snapshot's history is merged in (the log keeps what happened
    since) and the restore itself is recorded: ``restored`` for each memory it brings back
    or changes, ``forgotten`` by ``"restore"`` for each it removes.

    On a backend with ``"transactions"`` it all happens in one transaction
    (:meth:`~llm_memory.storage.VectorStore.atomic`): readers in other processes see the
    old store or the new one, never a mix, and a failure leaves the old one untouched.
    """
    with store.atomic():
        return _apply(store, directory, manifest, users, label, progress, history_log)


def _apply(
    store: IndexedStore,
    directory: Path,
    manifest: dict[str, Any],
    users: Sequence[str] | None,
    label: str,
    progress: Progress | None,
    history_log: Any,
) -> int:
    from llm_memory.history.record import Changes, values

    changes = Changes(history_log) if history_log is not None else None
    progress = progress or _noop
    scope = None if users is None else set(users)
    info = _info(manifest["embedder"], label) if manifest.get("embedder") else None
    _prepare(store, scope, info)
    total = sum(p["count"] for p in manifest["parts"] if scope is None or p["user_id"] in scope)
    kept: dict[str, set[str]] = {}
    done = 0
    progress("apply", 0, total)
    if history_log is not None:
        for _, events in read_history(directory, manifest, label, scope):
            history_log.append(events)
    for part, items, vectors in iter_parts(directory, manifest, label, scope):
        if changes is not None:
            before = {m.id: m for m in store.get(part["user_id"], [m.id for m in items])}
            back = [m for m in items if m.id not in before or values(before[m.id]) != values(m)]
            changes.restored(back, "restore")
        store.upsert(items, vectors.tolist())
        kept.setdefault(part["user_id"], set()).update(item.id for item in items)
        done += len(items)
        progress("apply", done, total)
    for user in sorted(scope if scope is not None else set(store.users())):
        extra = [m.id for m in store.iter_memories(user, PAGE) if m.id not in kept.get(user, ())]
        for start in range(0, len(extra), PAGE):
            chunk = extra[start : start + PAGE]
            if changes is not None:
                changes.removed("forgotten", store.get(user, chunk), "restore")
            store.delete(user, chunk)
        if user not in kept:
            store.delete_user(user)
    return done


def _prepare(store: IndexedStore, scope: set[str] | None, info: EmbedderInfo | None) -> None:
    current = store.embedding_info()
    if info is not None and current is not None and current != info:
        if scope is not None and store.count() != sum(store.count(u) for u in scope):
            raise SnapshotError(
                f"The store holds vectors from {current}, the snapshot is staged for {info}: run "
                "`llm-memory reindex` first, or restore all users."
            )
        if scope is None:
            store.clear()
        else:
            for user in scope:
                store.delete_user(user)
    if info is not None and current != info:
        store.set_embedding_info(info)
