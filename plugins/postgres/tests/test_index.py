"""The HNSW index is built once the table is large enough for a search to use it, in the
background and without blocking writers; searches are exact until then and the same after."""

from __future__ import annotations

import time

import psycopg
import pytest
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_postgres import schema

pytestmark = pytest.mark.server

DIM = 8


def _items(user: str, start: int, count: int) -> tuple[list[MemoryItem], list[list[float]]]:
    items = [
        MemoryItem(user_id=user, content=f"{user} note {n}") for n in range(start, start + count)
    ]
    vectors = [
        [float((n * 7 + d * 3) % 11) + 1.0 for d in range(DIM)] for n in range(start, start + count)
    ]
    return items, vectors


def _state(store) -> bool | None:
    with store.transaction(None) as conn:
        return schema.hnsw_state(conn, store.names)


def _nearest(store, user: str) -> list[str]:
    return [hit.item.content for hit in store.query([1.0] * DIM, MemoryFilter(user), 10)]


def test_the_index_comes_once_the_table_reaches_the_exact_search_threshold(open_store):
    store = open_store(exact_search_below=30, row_level_security=True)
    store.upsert(*_items("ada", 0, 25))
    assert not store.ensure_index(wait=True)
    assert _state(store) is None
    assert store.describe()["hnsw_index"] == "from 30 memories"
    exact = _nearest(store, "ada")
    assert len(exact) == 10

    store.upsert(*_items("bob", 0, 10))  # 35 rows: the write starts the build
    deadline = time.monotonic() + 60
    while _state(store) is not True and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(store) is True
    assert store.describe()["hnsw_index"] == "built"
    assert _nearest(store, "ada") == exact  # ada is still small: exact, the same
    store.upsert(*_items("ada", 25, 10))  # now ada alone has 35: her search uses the index
    assert len(_nearest(store, "ada")) == 10
    assert store.query([1.0] * DIM, MemoryFilter("bob"), 3)  # bob too

    other = open_store(exact_search_below=30)  # another process sees it at once
    assert other.ensure_index() and other.describe()["hnsw_index"] == "built"


def test_an_interrupted_build_is_dropped_and_done_again(open_store, pg_admin_dsn):
    store = open_store(exact_search_below=5)
    store.upsert(*_items("ada", 0, 10))
    assert store.ensure_index(wait=True)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:  # what a cancelled
        admin.execute(  # CREATE INDEX CONCURRENTLY leaves behind
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
            [f"{store.names.schema}.{store.names.table}_hnsw"],
        )
    assert _state(store) is False
    again = open_store(exact_search_below=5)
    assert again.ensure_index(wait=True)
    assert _state(again) is True


def test_a_clear_drops_the_index_and_a_small_table_builds_none(open_store):
    store = open_store(exact_search_below=5)
    store.upsert(*_items("ada", 0, 10))
    assert store.ensure_index(wait=True)
    store.clear()
    assert _state(store) is None
    store.upsert(*_items("ada", 0, 3))
    assert not store.ensure_index(wait=True) and _state(store) is None


def test_with_no_threshold_the_index_comes_with_the_column(open_store):
    store = open_store(exact_search_below=0)
    store.upsert(*_items("ada", 0, 1))
    assert _state(store) is True
