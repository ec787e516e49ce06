"""Prefiltered search, the user_id and ANN indexes, and full-text freshness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from llm_memory.errors import NotSupported
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore

DIM = 32
INFO = EmbedderInfo(name="test", model="random", dimension=DIM)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def memories(user: str, count: int, start: int = 0, **fields: object) -> list[MemoryItem]:
    return [
        MemoryItem(
            id=f"{user}-{n}",
            user_id=user,
            content=fields.pop("content", None) or f"note {n} of {user}",  # type: ignore[arg-type]
            created_at=T0 + timedelta(seconds=n),
            **fields,  # type: ignore[arg-type]
        )
        for n in range(start, start + count)
    ]


def unit(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def index_types(store: LanceDBStore) -> dict[str, str]:
    return {ix["columns"][0]: ix["type"] for ix in store.describe()["indexes"]}


@pytest.fixture
def store(tmp_path) -> Iterator[LanceDBStore]:
    options = LanceDBOptions(ann_index_threshold=400, optimize_every=0)
    store = LanceDBStore(tmp_path / "db", "memories", options)
    store.set_embedding_info(INFO)
    yield store
    store.close()


def test_a_new_table_has_the_key_user_id_and_full_text_indexes(store: LanceDBStore) -> None:
    assert index_types(store) == {"key": "BTree", "user_id": "BTree", "content": "FTS"}
    assert "keyword_search" in store.capabilities


@pytest.mark.parametrize("index_type", ["IVF_HNSW_SQ", "IVF_PQ"])
def test_ann_index_is_built_past_the_threshold_and_stays_correct(tmp_path, index_type) -> None:
    options = LanceDBOptions(ann_index_threshold=400, optimize_every=0, index_type=index_type)
    store = LanceDBStore(tmp_path / "db", "memories", options)
    store.set_embedding_info(INFO)
    rng = np.random.default_rng(1)
    vectors = unit(rng, 600)
    items = memories("alice", 600)
    store.upsert(items[:300], vectors[:300].tolist())
    assert store.wait_for_index() and "vector" not in index_types(store)

    store.upsert(items[300:500], vectors[300:500].tolist())  # crosses 400: the build starts
    assert store.wait_for_index(timeout=120)
    expected = {"IVF_HNSW_SQ": "IvfHnswSq", "IVF_PQ": "IvfPq"}[index_type]
    assert index_types(store)["vector"] == expected

    # Rows written after the build are not in the index yet, and must still be found.
    store.upsert(items[500:], vectors[500:].tolist())
    for n in (3, 250, 450, 520, 599):
        hits = store.query(vectors[n].tolist(), MemoryFilter("alice"), k=5)
        assert hits[0].item.id == f"alice-{n}"
        assert hits[0].score == pytest.approx(1.0, abs=0.02)
    store.close()

    reopened = LanceDBStore(tmp_path / "db", "memories", options)
    assert index_types(reopened)["vector"] == expected  # found on open, not rebuilt
    assert reopened.query(vectors[42].tolist(), MemoryFilter("alice"), k=1)[0].item.id == "alice-42"
    reopened.close()


def test_prefilter_keeps_a_users_memories_that_a_postfilter_would_lose(store: LanceDBStore) -> None:
    """Bob's 600 memories all lie nearer the query than Alice's 3: a top-10 taken before
    filtering holds none of Alice's; the store filters first, with or without ANN index."""
    rng = np.random.default_rng(2)
    query = unit(rng, 1)[0]
    near = query + 0.05 * unit(rng, 600)
    far = -query + 0.3 * unit(rng, 3)
    store.upsert(memories("bob", 600), near.tolist())
    store.upsert(memories("alice", 3), far.tolist())
    assert store.wait_for_index(timeout=120) and "vector" in index_types(store)

    table = store._table()
    postfiltered = (
        table.search(query, vector_column_name="vector")
        .distance_type("cosine")
        .where("user_id = 'alice'", prefilter=False)
        .limit(10)
        .to_list()
    )
    assert postfiltered == []  # what a post-filtered top-k returns

    hits = store.query(query.tolist(), MemoryFilter("alice"), k=10)
    assert sorted(hit.item.id for hit in hits) == ["alice-0", "alice-1", "alice-2"]
    assert len(store.query(query.tolist(), MemoryFilter("bob"), k=10)) == 10


def test_prefilter_by_type_and_time_among_many_distractors(store: LanceDBStore) -> None:
    rng = np.random.default_rng(3)
    query = unit(rng, 1)[0]
    store.upsert(memories("alice", 500, type="semantic"), (query + 0.05 * unit(rng, 500)).tolist())
    facts = memories("alice", 2, start=1000, type="fact")
    store.upsert(facts, (-query + 0.3 * unit(rng, 2)).tolist())
    assert store.wait_for_index(timeout=120)
    hits = store.query(query.tolist(), MemoryFilter("alice", types=("fact",)), k=5)
    assert sorted(hit.item.id for hit in hits) == ["alice-1000", "alice-1001"]
    late = MemoryFilter("alice", since=T0 + timedelta(seconds=1001))
    assert [hit.item.id for hit in store.query(query.tolist(), late, k=5)] == ["alice-1001"]


def test_keyword_query_finds_a_memory_as_soon_as_it_is_written(store: LanceDBStore) -> None:
    """The FTS index is not rebuilt per write: lancedb searches rows the index has not
    seen yet (they show as unindexed), so a fresh write is found at once."""
    rng = np.random.default_rng(4)
    store.upsert(memories("alice", 50), unit(rng, 50).tolist())
    store.optimize()
    assert _unindexed(store, "content") == 0

    fresh = MemoryItem(id="zebra", user_id="alice", content="My zebra is called Stripes")
    store.upsert([fresh], unit(rng, 1).tolist())
    assert _unindexed(store, "content") == 1
    assert [h.item.id for h in store.keyword_query("zebra", MemoryFilter("alice"), 5)] == ["zebra"]
    assert store.keyword_query("zebra", MemoryFilter("bob"), 5) == []

    store.update([fresh.model_copy(update={"content": "My giraffe is called Patches"})])
    assert store.keyword_query("zebra", MemoryFilter("alice"), 5) == []
    assert [h.item.id for h in store.keyword_query("giraffe", MemoryFilter("alice"), 5)] == [
        "zebra"
    ]

    store.optimize()  # folds the row into the index; results do not change
    assert _unindexed(store, "content") == 0
    assert [h.item.id for h in store.keyword_query("giraffe", MemoryFilter("alice"), 5)] == [
        "zebra"
    ]

    store.delete("alice", ["zebra"])
    assert store.keyword_query("giraffe", MemoryFilter("alice"), 5) == []
    store.upsert([fresh], unit(rng, 1).tolist())
    store.delete_user("alice")
    assert store.keyword_query("zebra", MemoryFilter("alice"), 5) == []


def test_periodic_optimize_keeps_the_indexes_current(tmp_path) -> None:
    store = LanceDBStore(tmp_path / "db", "m", LanceDBOptions(optimize_every=5))
    store.set_embedding_info(INFO)
    rng = np.random.default_rng(5)
    for n in range(10):
        store.upsert(memories("alice", 1, start=n, content=f"word{n} here"), unit(rng, 1).tolist())
        store.wait_for_index()  # the optimize runs in the background
    assert _unindexed(store, "content") == 0 and _unindexed(store, "user_id") == 0
    for n in range(10):
        hits = store.keyword_query(f"word{n}", MemoryFilter("alice"), 3)
        assert [h.item.id for h in hits] == [f"alice-{n}"]
    store.close()


def test_keyword_query_ranks_bm25_and_ignores_query_syntax(store: LanceDBStore) -> None:
    rng = np.random.default_rng(6)
    texts = ["coffee with oat milk", "coffee coffee beans roasted", "tea with lemon"]
    items = [MemoryItem(id=f"d{n}", user_id="alice", content=t) for n, t in enumerate(texts)]
    store.upsert(items, unit(rng, 3).tolist())
    hits = store.keyword_query("coffee", MemoryFilter("alice"), 5)
    assert [h.item.id for h in hits] == ["d1", "d0"]
    assert hits[0].score > hits[1].score > 0
    for text in ['"coffee', "coffee AND (", "coffee:", "coffee' OR 1=1 --"]:
        assert "d0" in {h.item.id for h in store.keyword_query(text, MemoryFilter("alice"), 5)}
    assert store.keyword_query("   ", MemoryFilter("alice"), 5) == []


def test_full_text_search_can_be_turned_off(tmp_path) -> None:
    store = LanceDBStore(tmp_path / "db", "m", LanceDBOptions(fts=False))
    store.set_embedding_info(INFO)
    assert "keyword_search" not in store.capabilities
    assert "content" not in index_types(store)
    with pytest.raises(NotSupported, match="LANCEDB_FTS"):
        store.keyword_query("anything", MemoryFilter("alice"), 3)
    store.close()


def _unindexed(store: LanceDBStore, column: str) -> int:
    (found,) = [ix for ix in store.describe()["indexes"] if ix["columns"] == [column]]
    return int(found["unindexed_rows"])


def test_a_large_write_is_folded_into_the_indexes_in_the_background(tmp_path) -> None:
    """``optimize_growth``: once the rows written since the last optimize reach that share
    of the table (and 1,000), an optimize runs in the background; small writes start none."""
    options = LanceDBOptions(optimize_every=0, optimize_growth=0.25)
    store = LanceDBStore(tmp_path / "db", "m", options)
    store.set_embedding_info(INFO)
    rng = np.random.default_rng(8)
    store.upsert(memories("alice", 1200), unit(rng, 1200).tolist())
    assert store.wait_for_index(timeout=120)
    assert _unindexed(store, "key") == 0 and _unindexed(store, "user_id") == 0
    store.upsert(memories("bob", 10), unit(rng, 10).tolist())
    assert store.wait_for_index(timeout=120)
    assert _unindexed(store, "key") == 10
    hits = store.query(unit(rng, 1)[0].tolist(), MemoryFilter("bob"), 20)
    assert len(hits) == 10  # unindexed rows are searched all the same
    store.close()


def test_hot_reads_use_the_async_table(store: LanceDBStore) -> None:
    """Vector search and fetch by key skip lancedb's sync wrapper (several schema round
    trips per query). If a lancedb release moves the attribute this relies on, reads fall
    back to the sync API and this test says so."""
    from llm_memory_lancedb.store import _async_table

    rng = np.random.default_rng(9)
    store.upsert(memories("alice", 5), unit(rng, 5).tolist())
    assert _async_table(store._table()) is not None
    hits = store.query(unit(rng, 1)[0].tolist(), MemoryFilter("alice"), 3)
    assert len(hits) == 3 and all(h.item.user_id == "alice" for h in hits)
    assert [m.id for m in store.get("alice", ["alice-3", "alice-1"])] == ["alice-3", "alice-1"]
