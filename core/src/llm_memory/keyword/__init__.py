"""Keyword (BM25) search kept by the core beside the store.

``open_keyword_index(store, settings)`` returns a :class:`SqliteKeywordIndex`: an SQLite
FTS5 table next to the store's data holding each memory's stemmed terms (through
:func:`llm_memory.text.content_terms`, so queries and documents are tokenised alike), the
terms of its neighbouring conversation turns, and its date. The indexed store
(:mod:`llm_memory.storage.indexed`) keeps it in step on every write and delete; on open it
is rebuilt from the store when it is new or of an older format, and otherwise brought in
step by comparing each user's ids and row signatures with the store (not the row count:
a write and a delete elsewhere leave it equal), re-indexing only the rows that differ. :func:`keyword_side_for` chooses between it, the
keyword side a backend carries itself, and the backend's native full-text index.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from llm_memory.keyword.base import KeywordIndex
from llm_memory.keyword.rebuild import conversation_neighbours
from llm_memory.keyword.sqlite import ChangeSource, SqliteKeywordIndex

if TYPE_CHECKING:
    from llm_memory.settings import Settings
    from llm_memory.storage import VectorStore

__all__ = [
    "KeywordIndex",
    "SqliteKeywordIndex",
    "conversation_neighbours",
    "describe_keyword_side",
    "index_location",
    "keyword_side_for",
    "open_keyword_index",
    "planned_keyword_side",
]

FILE_NAME = "keyword_index.sqlite3"


def keyword_side_for(store: VectorStore, settings: Settings) -> KeywordIndex | None:
    """The keyword index to keep beside ``store``, or None to use its native full-text index.

    A backend that carries the core's keyword text in its own database
    (``own_keyword_index``) is used first. Otherwise the core's SQLite index, which scores
    better (it indexes each conversation turn with its neighbours and date; see
    benchmarks/README.md), except that a store other machines write too (``"shared"``)
    keeps its native index under ``KEYWORD_INDEX=auto``: a local file would miss their writes.
    """
    own = store.own_keyword_index(settings)
    if own is not None:
        return own
    mode = settings.keyword_index
    native = "keyword_search" in store.capabilities
    if mode == "native" or (mode == "auto" and native and "shared" in store.capabilities):
        return None
    return open_keyword_index(store, settings)


def describe_keyword_side(
    store: VectorStore, index: KeywordIndex | None, hybrid: bool = True
) -> str:
    """One line naming the keyword index in use beside ``store`` (``index`` as
    :func:`keyword_side_for` returned it), for ``llm-memory stats`` and ``config``."""
    if not hybrid:
        return "none (HYBRID_SEARCH is off: vector search only)"
    if isinstance(index, SqliteKeywordIndex):
        where = "in memory" if index.path == ":memory:" else index.path
        line = f"core: SQLite FTS5 ({where}, table {index.table})"
        return line + _freshness(store, index.every if index.follows else None)
    if index is not None:
        return f"store: the core's keyword text in {store.name}'s own database ({type(index).__name__})"
    if "keyword_search" in store.capabilities:
        return f"native: {store.name}'s full-text index over the raw content"
    return "none: vector search only"


def planned_keyword_side(store: VectorStore, settings: Settings) -> str:
    """:func:`describe_keyword_side` of what :func:`keyword_side_for` would choose, without
    opening or syncing the core's index (``llm-memory config`` shows it)."""
    if not settings.hybrid_search:
        return describe_keyword_side(store, None, hybrid=False)
    own = store.own_keyword_index(settings)
    if own is not None:
        return describe_keyword_side(store, own)
    mode = settings.keyword_index
    native = "keyword_search" in store.capabilities
    if mode == "native" or (mode == "auto" and native and "shared" in store.capabilities):
        return describe_keyword_side(store, None)
    path, table = index_location(store, settings)
    where = "in memory" if path == ":memory:" else path
    follows = "shared" in store.capabilities and isinstance(store, ChangeSource)
    every = settings.keyword_sync_interval_s if follows else None
    return f"core: SQLite FTS5 ({where}, table {table})" + _freshness(store, every)


def _freshness(store: VectorStore, every: float | None) -> str:
    """For a store other processes write: how soon their writes reach the core's index."""
    if "shared" not in store.capabilities:
        return ""
    if every is None:
        return (
            "; shared store: other processes' writes reach it only when this one reopens "
            "the store (use the store's native index or Postgres for a shared deployment)"
        )
    return (
        f"; shared store: other processes' writes keyword-searchable within {every:g} s "
        "(KEYWORD_SYNC_INTERVAL_S, pulled before a search), their deletes never returned"
    )


def open_keyword_index(store: VectorStore, settings: Settings) -> SqliteKeywordIndex:
    """The keyword index of ``store``, rebuilt or brought in step with it."""
    path, table = index_location(store, settings)
    index = SqliteKeywordIndex(path, table)
    try:
        index.sync(store)
    except BaseException:
        index.close()
        raise
    if "shared" in store.capabilities and isinstance(store, ChangeSource):
        index.follow(store, settings.keyword_sync_interval_s)
    return index


def index_location(
    store: VectorStore, settings: Settings, file_name: str = FILE_NAME
) -> tuple[str, str]:
    """Where the index of ``store`` lives: (SQLite path or ``:memory:``, table name).

    A store that does not persist gets an in-memory index. A store kept in one file (the
    ``memory`` backend) gets ``<file stem>.keyword_index.sqlite3`` beside it; any other the
    file in ``vector_store_dir``, one table per backend and collection, and per location
    unless the store lives in ``vector_store_dir`` itself (``store.location()``).
    ``file_name`` places another file the same way (the history log's).
    """
    if "persistent" not in store.capabilities:
        return ":memory:", _table(store.name, settings.collection)
    where = store.location()
    own = Path(where) if where and "://" not in where else None
    if own is not None and own.suffix and not own.is_dir():  # one data file
        own.parent.mkdir(parents=True, exist_ok=True)
        return str(own.parent / f"{own.stem}.{file_name}"), _table(store.name, "memories")
    directory = Path(settings.vector_store_dir)
    directory.mkdir(parents=True, exist_ok=True)
    if own is not None and own.resolve() == directory.resolve():
        where = None
    table = _table(store.name, settings.collection, where)
    return str(directory / file_name), table


def _table(backend: str, collection: str, where: str | None = None) -> str:
    name = re.sub(r"[^0-9A-Za-z_]", "_", f"{backend}_{collection}")[:64]
    if where is not None:
        name += "_" + hashlib.sha1(where.encode()).hexdigest()[:8]
    return f"kw_{name}"
