"""Storage backends: where memories and their vectors live.

A backend implements :class:`VectorStore`. The core owns validation, embedding and
scoring; a backend only stores, filters and searches. Every read and write is scoped by
``user_id``; ids are unique per user, so two users may hold the same id without touching
each other's memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from llm_memory.errors import DimensionMismatch, NotSupported
from llm_memory.models import EmbedderInfo, MemoryItem

__all__ = ["PAGE", "MemoryFilter", "StoreHit", "VectorStore", "paged"]

#: Memories per page when a whole user is walked through ``list``.
PAGE = 1000


@dataclass(frozen=True)
class MemoryFilter:
    """Which memories of one user a list or query may return.

    ``since`` is inclusive and ``until`` exclusive, both on ``created_at``.
    """

    user_id: str
    types: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    session_id: str | None = None

    def matches(self, item: MemoryItem) -> bool:
        return (
            item.user_id == self.user_id
            and (self.types is None or item.type in self.types)
            and (self.since is None or item.created_at >= self.since)
            and (self.until is None or item.created_at < self.until)
            and (self.session_id is None or item.session_id == self.session_id)
        )


@dataclass(frozen=True)
class StoreHit:
    """A search result: the memory and the backend's similarity (higher is closer)."""

    item: MemoryItem
    score: float


class VectorStore(ABC):
    """The storage contract. ``llm_memory_testing.StorageContract`` tests all of it.

    Capabilities a backend may lack are named in ``capabilities``:
    ``"keyword_search"`` (a native full-text index behind :meth:`keyword_query`) and
    ``"persistent"`` (data survives :meth:`close` and reopening), and ``"shared"`` (other
    processes or machines write the same data at the same time: a server, or object
    storage, so an index the core keeps in a local file beside it would miss their writes),
    and ``"multiprocess"`` (several processes on one machine may open it at once, as
    ``llm-memory serve --workers N`` does; ``"shared"`` implies it), and ``"transactions"``
    (:meth:`atomic` makes many calls one all-or-nothing change: a restore applies in one
    transaction, so readers in other processes see the old store or the new one).
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()

    # -- the embedder the vectors came from ------------------------------------------
    @abstractmethod
    def embedding_info(self) -> EmbedderInfo | None:
        """The embedder recorded with the data, or None if none was recorded yet."""

    @abstractmethod
    def set_embedding_info(self, info: EmbedderInfo) -> None:
        """Record the embedder. The core calls it before the first write, or to re-stamp
        an empty store, or during ``reindex``."""

    def check_dimension(self, vectors: Sequence[Sequence[float]]) -> None:
        info = self.embedding_info()
        for vector in vectors:
            if info is not None and len(vector) != info.dimension:
                raise DimensionMismatch(
                    f"This store holds {info.dimension}-dimensional vectors from {info.name}/"
                    f"{info.model}; got a {len(vector)}-dimensional vector. Run `llm-memory "
                    "reindex` or choose another collection."
                )

    def check_upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> bool:
        """The checks every :meth:`upsert` starts with: one vector per item, all of one
        length, and of the recorded dimension. False for an empty batch (nothing to write)."""
        if len(items) != len(vectors):
            raise ValueError(
                f"upsert got {len(items)} items but {len(vectors)} vectors; pass one vector per item."
            )
        if not items:
            return False
        self.check_dimension(vectors)
        lengths = {len(v) for v in vectors}
        if len(lengths) > 1:
            raise DimensionMismatch(f"Vectors of lengths {sorted(lengths)} cannot share one store.")
        return True

    # -- writes ----------------------------------------------------------------------
    @abstractmethod
    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace ``items`` (keyed by ``(user_id, id)``) with their vectors.

        All or nothing where the backend allows it; starts with :meth:`check_upsert`.
        """

    @abstractmethod
    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace the stored fields of existing memories, keeping their vectors.
        Ids that do not exist for that user are ignored."""

    def write(
        self,
        new: Sequence[MemoryItem],
        vectors: Sequence[Sequence[float]],
        changed: Sequence[MemoryItem] = (),
    ) -> None:
        """One batch of the write path: insert (or replace) ``new`` with their vectors and
        replace the fields of ``changed`` (existing memories, keeping their vectors; ids no
        longer stored are ignored).

        The default is :meth:`upsert` then :meth:`update`, two calls; a backend that can do
        both in one operation overrides it (LanceDB: one ``merge_insert`` commit).
        """
        if new:
            self.upsert(new, vectors)
        if changed:
            self.update(changed)

    @abstractmethod
    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        """Delete these memories of this user; returns how many existed."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Delete every memory of this user; returns how many there were."""

    # -- reads -----------------------------------------------------------------------
    @abstractmethod
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        """The memories of this user with these ids, in the order of ``ids``; missing ids
        are skipped."""

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[MemoryItem]:
        """The memories with these ``(user_id, id)`` keys, whichever users they belong to
        (the write path's duplicate check: one call per batch). The default asks
        :meth:`get` once per user; a backend that can look many keys up at once overrides it.
        """
        by_user: dict[str, list[str]] = {}
        for user_id, memory_id in keys:
            by_user.setdefault(user_id, []).append(memory_id)
        return [item for user_id, ids in by_user.items() for item in self.get(user_id, ids)]

    @abstractmethod
    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        """Memories matching ``flt``, ordered by ``(created_at, id)``, paginated."""

    def iter_memories(self, user_id: str, page: int = PAGE) -> Iterator[MemoryItem]:
        """Every memory of one user, oldest first, fetched ``page`` at a time."""
        return paged(self.list, user_id, page)

    @abstractmethod
    def count(self, user_id: str | None = None) -> int:
        """How many memories this user has; all users' when ``user_id`` is None."""

    @abstractmethod
    def users(self) -> list[str]:
        """Every user id with at least one memory, sorted (for admin tasks)."""

    @abstractmethod
    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        """The ``k`` memories matching ``flt`` nearest to ``vector`` by cosine, best first.
        The filter is applied before the top-k is taken (prefiltering)."""

    def atomic(self) -> AbstractContextManager[None]:
        """Make every call this thread makes inside one all-or-nothing change, which other
        processes see whole once it ends, if the backend can (``"transactions"``): its own
        keyword side and history log join it. Nested uses join the outer one.

        The default does nothing: each call stands alone, as before.
        """
        return nullcontext()

    def own_keyword_index(self, settings: Any) -> Any:
        """A keyword side that lives in the backend itself, or None (the default).

        A backend that can keep the core's keyword text (stemmed terms, neighbouring turns,
        date words) in its own database returns an object following
        ``llm_memory.keyword.KeywordIndex`` (the same interface as the core's SQLite index),
        stored next to the rows it indexes: every process sharing the store then searches
        the same keyword data. The core's :class:`~llm_memory.storage.indexed.IndexedStore`
        keeps it in step on every write, in place of its SQLite file.
        """
        return None

    def location(self) -> str | None:
        """Where the data lives, known without a request: a file or directory path, a
        server URL or an object-storage URI (credentials masked); None for data kept in
        process memory. The restore journal and the core's keyword index name the store
        by it. The default is None; every persistent backend overrides it.
        """
        return None

    def own_history_log(self, settings: Any) -> Any:
        """A history log that lives in the backend itself, or None (the default).

        A backend that can keep history events in its own database (a second table or
        collection beside the memories) returns a ``llm_memory.history.HistoryLog`` (tested
        by ``llm_memory_testing.HistoryContract``): every process and machine sharing the
        store then records and reads the same history. Otherwise the core keeps it in an
        SQLite file beside the store's data (in memory for a store that does not persist),
        which misses other machines' changes on a ``"shared"`` store.
        """
        return None

    def keyword_query(self, text: str, flt: MemoryFilter, k: int) -> list[StoreHit]:
        """The ``k`` best full-text matches for ``text`` (BM25 or similar), best first.
        Only backends with the ``"keyword_search"`` capability implement this."""
        raise NotSupported(f"Storage backend {self.name!r} has no full-text index.")

    @abstractmethod
    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of these memories of this user (for snapshots)."""

    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None:
        """Add ``count`` to ``access_count`` and raise ``last_accessed_at`` to ``at`` for
        each ``(user_id, id): (count, at)``; ids that no longer exist are skipped.

        The default reads the memories and writes them back with :meth:`update`, all in
        one call; a backend that can increment in place overrides it (no read, and no lost
        increment when another process records access at the same time).
        """
        updated = []
        for item in self.get_many(list(accesses)):
            count, at = accesses[(item.user_id, item.id)]
            last = at if item.last_accessed_at is None else max(at, item.last_accessed_at)
            changes = {"access_count": item.access_count + count, "last_accessed_at": last}
            updated.append(item.model_copy(update=changes))
        if updated:
            self.update(updated)

    # -- housekeeping ------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every memory and forget the recorded embedder (``reindex`` refills it).

        Backends whose collections fix the vector dimension override this to drop and
        recreate the collection, so a reindex may change the dimension.
        """
        for user_id in self.users():
            self.delete_user(user_id)

    def describe(self) -> dict[str, Any]:
        """What ``llm-memory stats`` shows: at least the backend and where data lives."""
        return {"backend": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files. Reopening must find the data if persistent."""


def paged(
    list_page: Callable[..., list[MemoryItem]], user_id: str, page: int = PAGE
) -> Iterator[MemoryItem]:
    """Every memory of one user from ``list_page(flt, limit=, offset=)``, a page at a time."""
    offset = 0
    while True:
        batch = list_page(MemoryFilter(user_id=user_id), limit=page, offset=offset)
        yield from batch
        if len(batch) < page:
            return
        offset += page
