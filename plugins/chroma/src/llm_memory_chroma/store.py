"""The Chroma storage backend: embedded (``PersistentClient``) or client/server (``HttpClient``).

All users share one collection; every record carries its ``user_id`` and every read is
filtered by it (``bench_users.py`` measures the alternative, a collection per user). The
collection has no Chroma embedding function: the core embeds, and every write and query
passes vectors, so Chroma's default model is never loaded or downloaded.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import InvalidArgumentError, NotFoundError
from llm_memory.errors import ConfigError, DimensionMismatch, EmbedderMismatch, LLMMemoryError
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore

from llm_memory_chroma import dirlock, records

__all__ = ["ChromaStore"]

T = TypeVar("T")
_INFO_KEYS = (
    "llm_memory_embedder_name",
    "llm_memory_embedder_model",
    "llm_memory_embedder_dimension",
)
_CONFIGURATION = {"hnsw": {"space": "cosine"}}
_EVERYTHING = ["metadatas", "documents"]


class ChromaStore(VectorStore):
    """Memories in one Chroma collection, embedded at ``path`` or on the server at ``host``."""

    name = "chroma"

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        # A Chroma server is shared by every process that talks to it.
        # Embedded Chroma is one process's: a directory lock refuses a second one.
        shared = {"persistent", "shared", "multiprocess"}
        return frozenset(shared if self.mode == "http" else {"persistent"})

    def __init__(
        self,
        collection: str = "memories",
        *,
        path: str | os.PathLike[str] = "chroma_db",
        host: str | None = None,
        port: int = 8000,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
        tenant: str = chromadb.DEFAULT_TENANT,
        database: str = chromadb.DEFAULT_DATABASE,
    ) -> None:
        self.collection_name = collection
        self.path = Path(path)
        self.mode = "http" if host else "embedded"
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._closed = False
        settings = ChromaSettings(anonymized_telemetry=False)
        if host:
            self.url, host, port, ssl = _server(host, port, ssl)
            try:
                self._client: ClientAPI = chromadb.HttpClient(
                    host=host, port=port, ssl=ssl, headers=headers or None, settings=settings,
                    tenant=tenant, database=database,
                )  # fmt: skip
            except (ValueError, ConnectionError) as exc:
                raise ConfigError(
                    f"Cannot reach the Chroma server at {self.url} ({exc}); start it with "
                    "`chroma run --path ./chroma_db` or check CHROMA_HOST and CHROMA_PORT."
                ) from exc
        else:
            self.url = None
            # One System per directory in a process: chromadb keys it by this exact string.
            dirlock.acquire(self.path, str(path))
            try:
                self._client = chromadb.PersistentClient(
                    path=str(self.path.resolve()), settings=settings
                )
            except BaseException:
                dirlock.release(self.path)
                raise
        try:
            self.max_batch = max(1, int(self._client.get_max_batch_size()))
            self._collection = self._open_collection()
        except BaseException:
            self.close()
            raise
        self._known_info: EmbedderInfo | None = None

    # -- the collection ------------------------------------------------------------------
    def _open_collection(self) -> Collection:
        try:
            collection = self._client.get_or_create_collection(
                self.collection_name, configuration=_CONFIGURATION, embedding_function=None
            )
        except InvalidArgumentError as exc:
            raise ConfigError(
                f"Collection name {self.collection_name!r} is not valid for Chroma ({exc}); set "
                "COLLECTION to 3-512 characters from a-z, A-Z, 0-9, '.', '_', '-'."
            ) from exc
        space = (collection.configuration_json.get("hnsw") or {}).get("space", "cosine")
        if space != "cosine":
            raise ConfigError(
                f"Collection {self.collection_name!r} measures {space} distance; llm-memory needs "
                "cosine. Set COLLECTION to another name."
            )
        return collection

    def _run(self, operation: Callable[[Collection], T]) -> T:
        """Run against the collection; if another client dropped and recreated it (a
        ``clear`` or a reindex elsewhere), reopen it by name and try once more."""
        collection = self._current()
        try:
            return operation(collection)
        except NotFoundError:
            with self._lock:
                if self._collection is collection:
                    self._collection = self._open_collection()
            return operation(self._current())
        except InvalidArgumentError as exc:
            if "dimension" in str(exc):
                raise DimensionMismatch(
                    f"Collection {self.collection_name!r} refused the vectors: {exc}. Run "
                    "`llm-memory reindex` or choose another collection."
                ) from exc
            raise

    def _current(self) -> Collection:
        if self._closed:
            raise LLMMemoryError("This Chroma store is closed; open a new one.")
        if self.mode == "embedded" and os.getpid() != self._pid:
            raise LLMMemoryError(
                f"This embedded Chroma store was opened in process {self._pid} before a fork; "
                "open the store in each process, or share a Chroma server (CHROMA_HOST)."
            )
        return self._collection

    def _fresh_collection(self) -> Collection:
        collection = self._run(
            lambda c: self._client.get_collection(c.name, embedding_function=None)
        )
        with self._lock:
            self._collection = collection
        return collection

    def own_history_log(self, settings: Any) -> Any:
        """On a Chroma server (``"shared"``) the history is a second collection there, so
        every process sees every change; an embedded directory leaves it to the core's
        SQLite file beside it."""
        if self.mode != "http":
            return None
        from llm_memory_chroma.history import ChromaHistoryLog

        return ChromaHistoryLog(self._client, f"{self.collection_name}_history", self.max_batch)

    # -- the embedder recorded with the data -----------------------------------------------
    def embedding_info(self) -> EmbedderInfo | None:
        metadata = self._fresh_collection().metadata or {}
        name, model, dimension = (metadata.get(k) for k in _INFO_KEYS)
        info = (
            None if name is None else EmbedderInfo(name=name, model=model, dimension=int(dimension))
        )
        self._known_info = info
        return info

    def set_embedding_info(self, info: EmbedderInfo) -> None:
        with self._lock:
            collection = self._fresh_collection()
            fixed = collection._model.dimension  # set by chromadb at the first write, never reset
            if fixed is not None and fixed != info.dimension:
                held = self.count()
                if held:
                    raise EmbedderMismatch(
                        f"Collection {self.collection_name!r} holds {held} memories with {fixed}-"
                        f"dimensional vectors; it cannot record {info}. Run `llm-memory reindex` "
                        "or choose another collection."
                    )
                collection = self._recreate()
            metadata = {k: v for k, v in (collection.metadata or {}).items() if k not in _INFO_KEYS}
            metadata.update(zip(_INFO_KEYS, (info.name, info.model, info.dimension), strict=True))
            collection.modify(metadata=metadata)
            self._known_info = info

    def _recreate(self) -> Collection:
        with self._lock:
            with contextlib.suppress(NotFoundError):
                self._client.delete_collection(self.collection_name)
            self._collection = self._open_collection()
            self._known_info = None
            return self._collection

    def clear(self) -> None:
        """Drop and recreate the collection: Chroma fixes a collection's dimension at its
        first write, and a reindex may change it."""
        self._recreate()

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        if not self.check_upsert(items, vectors):
            return
        # One conversion to float32 (what Chroma stores), not one float() per component.
        embeddings = np.asarray(vectors, dtype=np.float32)
        # The last write of a (user, id) wins, as it would in separate calls.
        latest: dict[str, tuple[MemoryItem, Any]] = {}
        for item, vector in zip(items, embeddings, strict=True):
            latest[records.key(item.user_id, item.id)] = (item, vector)
        self._write(list(latest.values()))

    def _write(self, rows: Sequence[tuple[MemoryItem, Any]]) -> None:
        for batch in _batches(rows, self.max_batch):
            encoded = [records.encode(item) for item, _ in batch]
            self._run(
                lambda c, encoded=encoded, batch=batch: c.upsert(
                    ids=[e[0] for e in encoded],
                    documents=[e[1] for e in encoded],
                    metadatas=[e[2] for e in encoded],
                    embeddings=np.stack([vector for _, vector in batch]).astype(np.float32),
                )
            )

    def update(self, items: Sequence[MemoryItem]) -> None:
        """A memory whose content is unchanged gets a metadata-only update: Chroma keeps
        its document and vector, and nothing is re-indexed (400 records in a 20,000-record
        collection: 0.25 s, against 3.4 s to upsert them with their vectors). A changed
        content is rewritten with its stored vector (Chroma would otherwise re-embed it)."""
        latest = {records.key(i.user_id, i.id): i for i in items}
        for keys in _batches(list(latest), self.max_batch):
            same, changed = [], []
            for row in self._rows(keys, ["documents", "metadatas"]):
                if row.metadata["user_id"] == latest[row.id].user_id:
                    (same if row.document == latest[row.id].content else changed).append(row.id)
            if same:
                metadatas = [records.encode(latest[k])[2] for k in same]
                self._run(lambda c, same=same, m=metadatas: c.update(ids=same, metadatas=m))
            if changed:
                vectors = self._run(
                    lambda c, changed=changed: c.get(ids=changed, include=["embeddings"])
                )
                pairs = zip(vectors["ids"], vectors["embeddings"], strict=True)
                self._write([(latest[k], v) for k, v in pairs])

    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None:
        """Only the ``record`` metadata key is rewritten (a metadata-only update). It is a
        read then a write: with several processes on one Chroma server, increments they
        record at the same instant can be lost (counts are statistics, not ledgers)."""
        wanted = {records.key(u, i): (u, i) for u, i in accesses}
        for batch in _batches(list(wanted), self.max_batch):
            ids, metadatas = [], []
            for row in self._rows(batch, ["metadatas"]):
                memory = wanted[row.id]
                if row.metadata["user_id"] != memory[0]:  # as every read here checks the owner
                    continue
                count, at = accesses[memory]
                ids.append(row.id)
                metadatas.append({"record": records.touched(row.metadata["record"], count, at)})
            if ids:
                self._run(lambda c, ids=ids, m=metadatas: c.update(ids=ids, metadatas=m))

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        found = self._keys(user_id, ids)
        self._delete_keys(found)
        return len(found)

    def delete_user(self, user_id: str) -> int:
        found = self._run(lambda c: c.get(where=records.user_where(user_id), include=[])["ids"])
        self._delete_keys(found)
        return len(found)

    def _delete_keys(self, keys: Sequence[str]) -> None:
        for batch in _batches(keys, self.max_batch):
            self._run(lambda c, batch=batch: c.delete(ids=list(batch)))

    # -- reads -----------------------------------------------------------------------------
    # Reads by id pass no ``where``: chromadb 1.5 plans ids + where badly (1.7 s instead of
    # 0.1 s for 2,000 ids). The id is a hash of (user, id); the user is checked on each row.
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        found = {item.id: item for item in self._get_items(user_id, ids)}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[MemoryItem]:
        """One ``get`` by Chroma id for the whole batch, whatever its users."""
        wanted = {
            records.key(user_id, memory_id): (user_id, memory_id) for user_id, memory_id in keys
        }
        out: list[MemoryItem] = []
        for row in self._rows(list(wanted), _EVERYTHING):
            found = records.decode(row.document, row.metadata)
            if wanted.get(row.id) == (found.user_id, found.id):
                out.append(found)
        return out

    def _get_items(self, user_id: str, ids: Sequence[str]) -> Iterator[MemoryItem]:
        for row in self._owned(user_id, ids, _EVERYTHING):
            yield records.decode(row.document, row.metadata)

    def _keys(self, user_id: str, ids: Sequence[str]) -> list[str]:
        """The Chroma ids of those of ``ids`` this user has."""
        return [row.id for row in self._owned(user_id, ids, ["metadatas"])]

    def _owned(self, user_id: str, ids: Sequence[str], include: list[str]) -> Iterator[_Row]:
        """The rows of this user's ``ids``: a Chroma id is a hash of (user, id), and the
        owner stored in each row is checked as well."""
        keys = list(dict.fromkeys(records.key(user_id, i) for i in ids))
        return (row for row in self._rows(keys, include) if row.metadata["user_id"] == user_id)

    def _rows(self, keys: Sequence[str], include: list[str]) -> Iterator[_Row]:
        """Rows by Chroma id, ``max_batch`` ids per request (``include`` must name
        ``metadatas``); the caller checks the owner."""
        for batch in _batches(keys, self.max_batch):
            got = self._run(lambda c, batch=batch: c.get(ids=list(batch), include=include))
            documents, embeddings = got.get("documents"), got.get("embeddings")
            for n, (chroma_id, metadata) in enumerate(
                zip(got["ids"], got["metadatas"], strict=True)
            ):
                yield _Row(
                    chroma_id,
                    metadata,
                    documents[n] if "documents" in include else None,
                    embeddings[n] if "embeddings" in include else None,
                )

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        if flt.types == () or limit <= 0:
            return []
        # Chroma pages in insertion order, so sort the user's matches here and decode one page.
        got = self._run(lambda c: c.get(where=records.where(flt), include=_EVERYTHING))
        rows = sorted(
            zip(got["metadatas"], got["documents"], strict=True),
            key=lambda r: records.sort_key(r[0]),
        )
        start = max(offset, 0)
        return [
            records.decode(document, metadata) for metadata, document in rows[start : start + limit]
        ]

    def count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return self._run(lambda c: c.count())
        return len(self._run(lambda c: c.get(where=records.user_where(user_id), include=[])["ids"]))

    def users(self) -> list[str]:
        found: set[str] = set()
        offset = 0
        while True:
            got = self._run(
                lambda c, offset=offset: c.get(
                    include=["metadatas"], limit=self.max_batch, offset=offset
                )
            )
            found.update(m["user_id"] for m in got["metadatas"])
            if len(got["ids"]) < self.max_batch:
                return sorted(found)
            offset += len(got["ids"])

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        if k <= 0 or flt.types == ():
            return []
        embedding = [float(x) for x in vector]
        info = self._known_info  # a server round trip per query is too dear; the server checks too
        if info is not None and len(embedding) != info.dimension:
            self.check_dimension([embedding])
        got = self._run(
            lambda c: c.query(
                query_embeddings=[embedding], n_results=k, where=records.where(flt),
                include=["metadatas", "documents", "distances"],
            )
        )  # fmt: skip
        rows = zip(got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True)
        return [
            StoreHit(records.decode(doc, meta), 1.0 - float(distance))
            for doc, meta, distance in rows
        ]

    def written_since(self, since: datetime) -> list[MemoryItem]:
        """The memories (of every user) written at or after ``since`` by any process: one
        ``get`` filtered on the ``written_us`` stamp, so it costs what changed, not the
        collection. The core's keyword index of each process sharing a Chroma server
        pulls them (``KEYWORD_SYNC_INTERVAL_S``). A record written before this version
        has no stamp and is not listed (the index's sync at open covers it)."""
        got = self._run(
            lambda c: c.get(where=records.written_where(records.micros(since)), include=_EVERYTHING)
        )
        return [
            records.decode(document, metadata)
            for document, metadata in zip(got["documents"], got["metadatas"], strict=True)
        ]

    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        return {
            records.memory_id(row.metadata): [float(x) for x in row.embedding]
            for row in self._owned(user_id, ids, ["embeddings", "metadatas"])
        }

    # -- housekeeping ------------------------------------------------------------------------
    def location(self) -> str | None:
        return self.url if self.mode == "http" else os.path.abspath(self.path)

    def describe(self) -> dict[str, Any]:
        where = self.url if self.mode == "http" else os.path.abspath(self.path)
        return {
            "backend": self.name,
            "mode": self.mode,
            "location": where,
            "collection": self.collection_name,
            "memories": self.count(),
        }

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._client.close()
            finally:
                if self.mode == "embedded":
                    dirlock.release(self.path)

    def __enter__(self) -> ChromaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _server(host: str, port: int, ssl: bool) -> tuple[str, str, int, bool]:
    """Accept ``host`` as a bare name or as a URL (``https://chroma.example:443``)."""
    if "://" in host:
        parts = urlsplit(host)
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else port)
        host = parts.hostname or host
    url = f"{'https' if ssl else 'http'}://{host}:{port}"
    return url, host, port, ssl


class _Row(NamedTuple):
    """One Chroma record as read by id (a field not asked for is None)."""

    id: str
    metadata: dict[str, Any]
    document: str | None
    embedding: Any


def _batches(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
