"""One store object: a backend, the keyword side kept in step with it, and the locks.

Vectors and their keywords change together, so every write goes through
:class:`IndexedStore`, which writes both; nothing else calls the keyword index. Its reads
share a readers-writer lock that :meth:`IndexedStore.exclusive` takes alone (a restore),
so no reader in this process ever sees a half-restored store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from llm_memory.errors import EmbedderMismatch
from llm_memory.keyword.base import KeywordIndex
from llm_memory.locks import OwnedLock, ReadWriteLock
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import PAGE, MemoryFilter, StoreHit, VectorStore, paged

__all__ = ["IndexedStore"]

Key = tuple[str, str]


class IndexedStore:
    """A :class:`VectorStore` and its keyword side, written together under one lock.

    ``keywords`` is the index kept in step with the backend: the core's SQLite index, or
    the one a backend carries itself (``VectorStore.own_keyword_index``). One that keeps
    its text in the backend's rows has ``write_rows(new, vectors, changed, neighbours)``,
    which writes rows and keyword text in one store operation in place of ``write`` and
    ``add``, and may have ``search_hits`` (whole rows, as a native search). Without one, a
    keyword search uses the backend's native full-text index if it has one
    (``"keyword_search"``), or finds nothing.
    """

    def __init__(self, backend: VectorStore, keywords: KeywordIndex | None = None) -> None:
        self.backend = backend
        self.keywords = keywords
        self._writer = OwnedLock()  # writers, one at a time
        # Reads share this; exclusive() takes it alone. Never take the writer lock while
        # holding it for reading.
        self._rw = ReadWriteLock()
        self._stamped = False

    # -- locks ---------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[IndexedStore]:
        """Hold the writer lock across a read-modify-write (readers go on)."""
        with self._writer:
            yield self

    def writer_held(self) -> bool:
        """Whether this thread holds the writer lock (inside :meth:`writing`)."""
        return self._writer.held()

    @contextmanager
    def reading(self) -> Iterator[IndexedStore]:
        with self._rw.reading():
            yield self

    @contextmanager
    def exclusive(self) -> Iterator[IndexedStore]:
        """Keep every other writer and reader of this process out (a restore applying).

        Reads already in flight finish first; the holder's own thread may still read and
        write. Afterwards the recorded embedder is checked again on the next write.
        """
        with self._writer, self._rw.writing():
            try:
                yield self
            finally:
                self._stamped = False

    @contextmanager
    def atomic(self) -> Iterator[IndexedStore]:
        """Hold the writer lock, and make the writes inside one transaction where the
        backend has them (:meth:`VectorStore.atomic`; a no-op elsewhere)."""
        with self._writer, self.backend.atomic():
            yield self

    # -- the embedder recorded with the data -----------------------------------------------
    def check_embedder(self, configured: EmbedderInfo, collection: str = "") -> None:
        """Refuse a store built with another embedder; stamp an empty or new one."""
        if self._stamped:
            return
        with self._writer:
            recorded = self.backend.embedding_info()
            if recorded is None or (recorded != configured and self.backend.count() == 0):
                self.backend.set_embedding_info(configured)
            elif recorded != configured:
                where = self.backend.describe().get("collection") or collection
                raise EmbedderMismatch(
                    f"Collection {where!r} holds {recorded.dimension}-dimensional vectors from "
                    f"{recorded.name}/{recorded.model}; the configured embedder is "
                    f"{configured.name}/{configured.model} ({configured.dimension} dimensions). "
                    "Run `llm-memory reindex` or choose another collection."
                )
            self._stamped = True

    def restamp(self, info: EmbedderInfo) -> None:
        """Empty the store (vectors and keywords) and record another embedder (a reindex)."""
        with self._writer:
            self.clear()
            self.backend.set_embedding_info(info)
            self._stamped = True

    def set_embedding_info(self, info: EmbedderInfo) -> None:
        with self._writer:
            self.backend.set_embedding_info(info)

    # -- writes: vectors and keywords together ------------------------------------------------
    def write(
        self,
        new: Sequence[MemoryItem],
        vectors: Sequence[Sequence[float]],
        changed: Sequence[MemoryItem] = (),
        neighbours: Mapping[Key, Sequence[str]] | None = None,
    ) -> None:
        """Insert (or replace) ``new`` with their vectors and replace the fields of
        ``changed`` (keeping their vectors), then index both in one keyword call.

        ``neighbours`` links conversation turns: ``(user_id, id)`` to the ids of the turns
        around it, whose words help find it; without it an item keeps the links it had.
        """
        with self._writer, self.backend.atomic():  # the row and its keywords at once
            items = [*new, *changed]
            around = None
            if neighbours is not None:
                around = [neighbours.get((i.user_id, i.id), ()) for i in items]
            in_rows = getattr(self.keywords, "write_rows", None)
            if in_rows is not None:  # keyword text kept in the row: one write for both
                if items:
                    in_rows(new, vectors, changed, around)
                return
            if new or changed:
                self.backend.write(new, vectors, changed)  # one store operation where it can
            if self.keywords is not None and items:
                self.keywords.add(items, around)

    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        self.write(items, vectors)

    def update(self, items: Sequence[MemoryItem]) -> None:
        self.write((), (), items)

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        with self._writer, self.backend.atomic():
            removed = self.backend.delete(user_id, ids)
            if self.keywords is not None:
                self.keywords.delete(user_id, ids)
        return removed

    def delete_user(self, user_id: str) -> int:
        with self._writer, self.backend.atomic():
            removed = self.backend.delete_user(user_id)
            if self.keywords is not None:
                self.keywords.delete_user(user_id)
        return removed

    def clear(self) -> None:
        """Remove every memory and its keywords (links between turns are kept, so that
        refilling the store gives them their context back)."""
        with self._writer, self.backend.atomic():
            self.backend.clear()
            if self.keywords is not None:
                self.keywords.clear()

    def record_access(self, accesses: Mapping[Key, tuple[int, datetime]]) -> None:
        with self._writer:  # one store call for every user: on LanceDB each write is a commit
            self.backend.record_access(accesses)

    # -- searches -------------------------------------------------------------------------------
    # The searches take no lock of their own: the retriever holds reading() around both,
    # and runs the keyword side on another thread, which must not queue behind a waiting
    # exclusive() while this thread's read holds that writer off (a deadlock).
    def vector_hits(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        """The ``k`` nearest memories matching ``flt``, whole, best first (call it inside
        :meth:`reading`)."""
        return self.backend.query(vector, flt, k)

    def keyword_ids(self, text: str, flt: MemoryFilter, k: int) -> list[str]:
        return self.keyword_hits(text, flt, k, 0)[0]

    def keyword_hits(
        self, text: str, flt: MemoryFilter, k: int, fetch: int
    ) -> tuple[list[str], list[MemoryItem]]:
        """Ids of the ``k`` best keyword matches, and the memories of the first ``fetch``
        (a native full-text search returns them all whole). Call it inside :meth:`reading`
        (from any thread)."""
        whole = getattr(self.keywords, "search_hits", None)
        if whole is not None:  # the keyword side returns whole rows (its text is in them)
            hits = whole(text, flt, k)
            return [hit.item.id for hit in hits], [hit.item for hit in hits]
        if self.keywords is None:
            if "keyword_search" not in self.backend.capabilities:
                return [], []
            hits = self.backend.keyword_query(text, flt, k)
            return [hit.item.id for hit in hits], [hit.item for hit in hits]
        ids = [memory_id for memory_id, _ in self.keywords.search(text, flt, k)]
        found = self._verified(flt.user_id, ids[:fetch]) if ids and fetch else []
        return ids, [item for item in found if flt.matches(item)]

    def _verified(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        """The stored memories of ``ids``, read from the backend. Keyword rows of the ids
        it does not hold (deleted through another process sharing the store) are dropped
        from the keyword side: a keyword hit is only ever returned from the store."""
        found = self.backend.get(user_id, ids)
        # Only a keyword side that follows a shared store (no transactions there) can hold
        # rows the store lost; elsewhere a row may just be ahead of an uncommitted write.
        follows = getattr(self.keywords, "follows", False)
        drop = getattr(self.keywords, "drop_missing", None) if follows else None
        if drop is not None and len(found) < len(set(ids)):
            have = {item.id for item in found}
            missing = [i for i in ids if i not in have]

            def stored(wanted: list[str]) -> set[str]:
                return {item.id for item in self.backend.get(user_id, wanted)}

            drop(user_id, missing, stored)
        return found

    # -- reads ------------------------------------------------------------------------------------
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        """The stored memories of ``ids``, in their order (keyword rows of missing ones
        are dropped: see :meth:`_verified`)."""
        with self._rw.reading():
            return self._verified(user_id, ids)

    def known(self, keys: Iterable[Key]) -> list[Key]:
        """Those of ``keys`` that may be stored: the keyword side's key table answers
        when it can (a lookup in microseconds, where the store would scan); else all."""
        wanted = list(dict.fromkeys(keys))
        if self.keywords is None or not wanted or getattr(self.keywords, "follows", False):
            # A keyword side that follows a shared store may not hold yet what another
            # process just wrote: only the store can tell.
            return wanted
        found = self.keywords.existing(wanted)
        return [key for key in wanted if key in found]

    def get_many(self, keys: Sequence[Key]) -> list[MemoryItem]:
        with self._rw.reading():
            return self.backend.get_many(keys)

    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        with self._rw.reading():
            return self.backend.get_vectors(user_id, ids)

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        with self._rw.reading():
            return self.backend.list(flt, limit=limit, offset=offset)

    def iter_memories(self, user_id: str, page: int = PAGE) -> Iterator[MemoryItem]:
        """Every memory of one user, oldest first, a page at a time (each page a read)."""
        return paged(self.list, user_id, page)

    def count(self, user_id: str | None = None) -> int:
        with self._rw.reading():
            return self.backend.count(user_id)

    def users(self) -> list[str]:
        with self._rw.reading():
            return self.backend.users()

    def embedding_info(self) -> EmbedderInfo | None:
        with self._rw.reading():
            return self.backend.embedding_info()

    def describe(self) -> dict[str, Any]:
        with self._rw.reading():
            return self.backend.describe()

    # -- what the backend is -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def capabilities(self) -> frozenset[str]:
        return self.backend.capabilities

    def location(self) -> str | None:
        return self.backend.location()

    def close(self) -> None:
        if self.keywords is not None:
            self.keywords.close()
        self.backend.close()
