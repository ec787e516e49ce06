"""A persistent embedding cache: the same text is never sent to a paid API twice.

Vectors live in one SQLite file, keyed by (provider, model, dimension, input kind, SHA-256
of the text), stored as little-endian float32 bytes. The file is safe to share between
threads and processes (WAL journal, busy timeout). :class:`CachedEmbedder` wraps any
:class:`~llm_memory.embedding.Embedder` and keeps its identity, so stores never see it.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from llm_memory.embedding import Embedder
from llm_memory.errors import ConfigError
from llm_memory.models import EmbedderInfo

__all__ = ["CachedEmbedder", "EmbeddingCache", "wrap_if_enabled"]

log = logging.getLogger(__name__)

Kind = Literal["document", "query"]
_FLOAT32 = np.dtype("<f4")
_CHUNK = 500  # keys per SELECT, well under SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    vector BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (provider, model, dimension, kind, sha256)
) WITHOUT ROWID
"""


_USAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    texts INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0,
    cache_misses INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, model)
)
"""
_COUNTERS = ("requests", "texts", "tokens", "cache_hits", "cache_misses")


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """The SQLite file. One connection per instance, guarded by a lock."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute(_USAGE_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"Cannot open the embedding cache {str(self.path)!r}: {exc}. Set EMBEDDING_CACHE_PATH "
                "to a writable file, or EMBEDDING_CACHE=false to turn the cache off."
            ) from exc

    def get_many(
        self, info: EmbedderInfo, kind: Kind, keys: Sequence[bytes]
    ) -> dict[bytes, list[float]]:
        """The cached vectors among ``keys``; vectors of the wrong length are ignored."""
        found: dict[bytes, list[float]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                rows = self._db.execute(
                    "SELECT sha256, vector FROM embeddings WHERE provider = ? AND model = ? "
                    f"AND dimension = ? AND kind = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                    (info.name, info.model, info.dimension, kind, *chunk),
                ).fetchall()
                for key, blob in rows:
                    if len(blob) == info.dimension * _FLOAT32.itemsize:
                        found[bytes(key)] = np.frombuffer(blob, dtype=_FLOAT32).tolist()
        return found

    def put_many(
        self, info: EmbedderInfo, kind: Kind, items: Iterable[tuple[bytes, Sequence[float]]]
    ) -> None:
        now = time.time()
        rows = [
            (info.name, info.model, info.dimension, kind, key, as_float32(vector).tobytes(), now)
            for key, vector in items
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def add_usage(self, info: EmbedderInfo, delta: dict[str, int]) -> None:
        """Add to the running totals of one provider and model (kept across processes)."""
        values = [int(delta.get(c, 0)) for c in _COUNTERS]
        if not any(values):
            return
        with self._lock:
            self._db.execute(
                f"INSERT INTO usage (provider, model, {', '.join(_COUNTERS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, model) DO UPDATE SET "
                + ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNTERS),
                (info.name, info.model, *values),
            )

    def usage_totals(self, info: EmbedderInfo) -> dict[str, int]:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_COUNTERS)} FROM usage WHERE provider = ? AND model = ?",
                (info.name, info.model),
            ).fetchone()
        return dict(zip(_COUNTERS, row or [0] * len(_COUNTERS), strict=True))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM embeddings").fetchone()[0])

    def clear(self, provider: str | None = None) -> int:
        """Delete cached vectors (of one provider, or all); returns how many."""
        with self._lock:
            if provider is None:
                cur = self._db.execute("DELETE FROM embeddings")
            else:
                cur = self._db.execute("DELETE FROM embeddings WHERE provider = ?", (provider,))
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def as_float32(vector: Sequence[float]) -> np.ndarray:
    return np.asarray(vector, dtype=_FLOAT32)


class CachedEmbedder(Embedder):
    """An :class:`Embedder` that answers from the cache and sends only the misses, in one batch.

    ``name``, ``model``, ``remote``, ``dimension`` and ``info()`` are the inner embedder's.
    Every vector it returns has been rounded to float32, cached or not, so a text's vector
    does not depend on whether it was in the cache. ``usage`` counts texts, cache hits and
    misses here, and mirrors the inner embedder's requests and tokens.
    """

    def __init__(self, inner: Embedder, path: str | Path | EmbeddingCache) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.remote = inner.remote
        self.fusion_weight = inner.fusion_weight
        self.cache = path if isinstance(path, EmbeddingCache) else EmbeddingCache(path)
        self._lock = threading.Lock()
        # An embedder that does not override embed_queries embeds queries as documents:
        # share one cache entry per text then.
        self._queries_differ = type(inner).embed_queries is not Embedder.embed_queries

    @property
    def dimension(self) -> int:
        try:
            return self.inner.dimension
        finally:
            self._sync_usage()

    def info(self) -> EmbedderInfo:
        try:
            return self.inner.info()
        finally:
            self._sync_usage()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, "document")

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, "query" if self._queries_differ else "document")

    def _embed(self, texts: Sequence[str], kind: Kind) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        info = self.info()
        keys = [text_key(t) for t in texts]
        found = self._lookup(info, kind, keys)
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            try:
                inner = (
                    self.inner.embed_documents if kind == "document" else self.inner.embed_queries
                )
                vectors = inner(list(missing.values()))
            finally:
                self._sync_usage()
            fresh = {k: as_float32(v).tolist() for k, v in zip(missing, vectors, strict=True)}
            self._store(info, kind, fresh)
            found.update(fresh)
        before = self.usage.as_dict()
        with self._lock:
            self.usage.texts += len(texts)
            self.usage.cache_misses += len(missing)
            self.usage.cache_hits += len(texts) - len(missing)
        after = self.usage.as_dict()
        try:
            self.cache.add_usage(info, {k: after[k] - before.get(k, 0) for k in after})
        except sqlite3.Error as exc:
            log.warning("embedding cache %s: usage not recorded: %s", self.cache.path, exc)
        return [list(found[k]) for k in keys]

    def usage_totals(self) -> dict[str, int]:
        """Usage of this provider and model across every process sharing the cache file."""
        return self.cache.usage_totals(self.info())

    def _lookup(
        self, info: EmbedderInfo, kind: Kind, keys: list[bytes]
    ) -> dict[bytes, list[float]]:
        try:
            return self.cache.get_many(info, kind, keys)
        except sqlite3.Error as exc:  # the cache is an optimisation: never fail a call for it
            log.warning(
                "embedding cache %s unreadable, embedding without it: %s", self.cache.path, exc
            )
            return {}

    def _store(self, info: EmbedderInfo, kind: Kind, fresh: dict[bytes, list[float]]) -> None:
        try:
            self.cache.put_many(info, kind, fresh.items())
        except sqlite3.Error as exc:
            log.warning("embedding cache %s not updated: %s", self.cache.path, exc)

    def _sync_usage(self) -> None:
        with self._lock:
            self.usage.requests = self.inner.usage.requests
            self.usage.tokens = self.inner.usage.tokens

    def close(self) -> None:
        self.cache.close()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this wrapper lacks: expose the inner embedder's extras.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def cache_enabled(embedder: Embedder, settings: Any) -> bool:
    """``EMBEDDING_CACHE`` when set; otherwise on for remote embedders only."""
    setting = getattr(settings, "embedding_cache", None)
    return embedder.remote if setting is None else bool(setting)


def wrap_if_enabled(embedder: Embedder, settings: Any) -> Embedder:
    """Wrap ``embedder`` in a :class:`CachedEmbedder` at ``settings.embedding_cache_path`` if enabled."""
    if isinstance(embedder, CachedEmbedder) or not cache_enabled(embedder, settings):
        return embedder
    return CachedEmbedder(embedder, settings.embedding_cache_path)
