"""The built-in ``memory`` backend: in-process, for tests and ephemeral use.

Brute-force cosine search with numpy over records keyed by ``(user_id, id)``. With a
``path``, every change is written to one JSON file (a temporary file renamed over the old
one, so a crash never leaves half a file), and the file is reloaded under an exclusive
``fcntl`` lock before each change, so that two processes (two CLI commands) sharing the
file do not overwrite each other's writes. Each change rewrites the whole file: this
backend is for small data sets; use chroma or lancedb for more.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llm_memory.errors import DimensionMismatch, LLMMemoryError
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["MemoryStore"]

_FORMAT = "llm-memory/memory-store"
_VERSION = 1
Record = tuple[MemoryItem, np.ndarray]


class MemoryStore(VectorStore):
    """Memories in a dict (per user, per id), optionally persisted to a JSON file."""

    name = "memory"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.RLock()
        self._users: dict[str, dict[str, Record]] = {}
        self._info: EmbedderInfo | None = None
        self._loaded: tuple[int, int, int] | None = None  # (inode, size, mtime) of the file read

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        # The file is read and written under flock, so processes on one machine share it.
        return frozenset({"persistent", "multiprocess"}) if self.path is not None else frozenset()

    # -- the embedder ------------------------------------------------------------------
    def embedding_info(self) -> EmbedderInfo | None:
        with self._reading():
            return self._info

    def set_embedding_info(self, info: EmbedderInfo) -> None:
        with self._writing():
            self._info = info

    # -- writes ------------------------------------------------------------------------
    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        arrays = [np.asarray(v, dtype=np.float64) for v in vectors]
        with self._writing():  # checked under the file lock: the recorded embedder is current
            if not self.check_upsert(items, arrays):  # type: ignore[arg-type]
                return
            self._check_consistent(arrays)
            for memory, array in zip(items, arrays, strict=True):
                self._users.setdefault(memory.user_id, {})[memory.id] = (
                    memory.model_copy(deep=True),
                    array,
                )

    def update(self, items: Sequence[MemoryItem]) -> None:
        with self._writing():
            for memory in items:
                records = self._users.get(memory.user_id, {})
                if memory.id in records:
                    records[memory.id] = (memory.model_copy(deep=True), records[memory.id][1])

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        with self._writing():
            records = self._users.get(user_id, {})
            removed = sum(records.pop(memory_id, None) is not None for memory_id in set(ids))
            if not records:
                self._users.pop(user_id, None)
            return removed

    def delete_user(self, user_id: str) -> int:
        with self._writing():
            return len(self._users.pop(user_id, {}))

    # -- reads -------------------------------------------------------------------------
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        with self._reading():
            records = self._users.get(user_id, {})
            return [records[i][0].model_copy(deep=True) for i in ids if i in records]

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        with self._reading():
            found = sorted(self._matching(flt), key=lambda r: (r[0].created_at, r[0].id))
            return [memory.model_copy(deep=True) for memory, _ in found[offset : offset + limit]]

    def count(self, user_id: str | None = None) -> int:
        with self._reading():
            if user_id is not None:
                return len(self._users.get(user_id, {}))
            return sum(len(records) for records in self._users.values())

    def users(self) -> list[str]:
        with self._reading():
            return sorted(user for user, records in self._users.items() if records)

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        with self._reading():
            candidates = self._matching(flt)
            if not candidates or k <= 0:
                return []
            matrix = np.stack([array for _, array in candidates])
            scores = _cosine(matrix, np.asarray(vector, dtype=np.float64))
            best = np.argsort(-scores, kind="stable")[:k]
            return [
                StoreHit(candidates[i][0].model_copy(deep=True), float(scores[i])) for i in best
            ]

    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        with self._reading():
            records = self._users.get(user_id, {})
            return {i: records[i][1].tolist() for i in ids if i in records}

    def location(self) -> str | None:
        return str(self.path) if self.path is not None else None

    def describe(self) -> dict[str, Any]:
        location = str(self.path) if self.path is not None else "in-process (lost when it exits)"
        return {"backend": self.name, "location": location, "memories": self.count()}

    # -- internals -----------------------------------------------------------------------
    def _matching(self, flt: MemoryFilter) -> list[Record]:
        return [r for r in self._users.get(flt.user_id, {}).values() if flt.matches(r[0])]

    def _check_consistent(self, arrays: Sequence[np.ndarray]) -> None:
        """Without a recorded embedder, vectors must still all have one length."""
        lengths = {len(a) for a in arrays}
        stored = next(
            (len(r[1]) for records in self._users.values() for r in records.values()), None
        )
        if stored is not None:
            lengths.add(stored)
        if len(lengths) > 1:
            raise DimensionMismatch(
                f"Vectors of lengths {sorted(lengths)} cannot share one store; embed everything "
                "with one embedder or run `llm-memory reindex`."
            )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            if self.path is not None and _signature(self.path) != self._loaded:
                with _file_lock(self.path, exclusive=False):
                    self._load()
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Reload the file, apply the change, write it back, all under the file lock.

        Changes validate before they touch ``self``, so an error leaves nothing changed.
        """
        with self._lock:
            if self.path is None:
                yield
                return
            with _file_lock(self.path, exclusive=True):
                if _signature(self.path) != self._loaded:
                    self._load()
                yield
                self._save()

    def _load(self) -> None:
        assert self.path is not None
        self._users, self._info, self._loaded = {}, None, _signature(self.path)
        if self._loaded is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT:
                raise ValueError(f"not a {_FORMAT} file")
            info = data.get("embedding")
            self._info = EmbedderInfo.model_validate(info) if info else None
            for row in data["memories"]:
                memory = MemoryItem.model_validate(row["item"])
                array = np.asarray(row["vector"], dtype=np.float64)
                self._users.setdefault(memory.user_id, {})[memory.id] = (memory, array)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._users, self._info, self._loaded = {}, None, None
            raise LLMMemoryError(
                f"Memory store file {str(self.path)!r} cannot be read ({exc}); restore it from a "
                "snapshot or move it away."
            ) from exc

    def _save(self) -> None:
        assert self.path is not None
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            "embedding": self._info.model_dump() if self._info else None,
            "memories": [
                {"item": memory.model_dump(mode="json"), "vector": array.tolist()}
                for records in self._users.values()
                for memory, array in records.values()
            ],
        }
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                # dumps, not dump: only dumps uses the C encoder.
                out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._loaded = _signature(self.path)


def _cosine(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    dots = matrix @ vector
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def _file_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold an ``fcntl`` lock on ``<path>.lock`` (the data file itself is replaced, not locked)."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
