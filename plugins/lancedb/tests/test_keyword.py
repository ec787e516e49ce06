"""The core's keyword text in the LanceDB row, searched by LanceDB's native full-text index
(KEYWORD_INDEX=native, or auto on object storage): neighbours, date words, other store
objects' writes, forgetting, rewording, reindex and the migration of an older table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from llm_memory.manager import MemoryManager
from llm_memory.storage import MemoryFilter
from llm_memory_lancedb.keyword import LanceRowKeywords
from llm_memory_lancedb.store import LanceDBStore

START = datetime(2023, 7, 7, 18, 0, tzinfo=UTC)
TURNS = [
    ("Ann", "I finally adopted a puppy, she is called Quibbleflux"),
    ("Bob", "Congratulations! Which breed did you choose?"),
    ("Ann", "A beagle from the shelter near the harbour"),
    ("Bob", "Lovely, bring her to the park on Sunday"),
]


@pytest.fixture(params=["local", "s3"])
def settings(request, tmp_path, moto_s3, s3_bucket) -> dict[str, Any]:
    """Settings of a manager whose keyword side is the text in the LanceDB rows."""
    lancedb: dict[str, Any] = {"optimize_every": 0, "optimize_growth": 0}
    if request.param == "s3":
        lancedb.update(
            uri=f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}",
            endpoint=moto_s3.url,
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
        )
    return {
        "storage_backend": "lancedb",
        "embedding_provider": "hash",
        "vector_store_dir": str(tmp_path / "data"),
        "keyword_index": "native",
        "lancedb": lancedb,
    }


@pytest.fixture
def memory(settings) -> Iterator[MemoryManager]:
    with MemoryManager.from_settings(**settings) as manager:
        yield manager


def ingest(memory: MemoryManager, user: str = "ann") -> list[str]:
    turns = [
        {"speaker": s, "content": c, "timestamp": START + timedelta(minutes=n)}
        for n, (s, c) in enumerate(TURNS)
    ]
    return [m.id for m in memory.ingest_conversation(turns, user, session_id="s1")]


def keyword(memory: MemoryManager, text: str, user: str = "ann") -> list[str]:
    return memory.memories.keyword_ids(text, MemoryFilter(user), 10)


def test_the_native_index_searches_the_cores_keyword_text(memory) -> None:
    assert isinstance(memory.memories.keywords, LanceRowKeywords)
    ids = ingest(memory)
    # Through its own stemmed words ("breeds" -> breed), first.
    assert keyword(memory, "breeds")[0] == ids[1]
    # Through a neighbour's word: turn 1 says nothing of the puppy's name; turns 0-2
    # link to turn 0 or 1 (two before, one after), turn 3 does not.
    found = keyword(memory, "Quibbleflux")
    assert found[0] == ids[0] and set(found) == {ids[0], ids[1], ids[2]}
    # Through a date word: no turn says "July".
    assert set(keyword(memory, "July 2023")) == set(ids)
    assert keyword(memory, "Quibbleflux", user="bob") == []  # scoped by user
    # The hybrid retrieval finds the turn by a neighbour's word too.
    hits = memory.retrieve("What breed is Quibbleflux?", "ann", limit=3, min_relevance=0)
    assert hits[0].memory.id in {ids[0], ids[1]} and "keyword" in hits[0].sources


def test_a_write_is_searchable_from_another_store_object_at_once(memory, settings) -> None:
    """read_consistency_seconds (0 by default) is the documented bound: rows not yet in
    the full-text index are searched by a flat scan, so no optimize is needed first."""
    with MemoryManager.from_settings(**settings) as other:
        assert keyword(other, "zyxquorp") == []  # the other object has read the table
        ingest(memory)
        written = memory.write_memory("The wifi password is zyxquorp", "ann")
        assert keyword(other, "zyxquorp") == [written.id]
        assert other.memories.keywords.freshness()["lag_bound_s"] == 0.0
        memory.forget(written.id, "ann")
        assert keyword(other, "zyxquorp") == []


def test_forgetting_a_turn_removes_its_words_from_its_neighbours(memory, settings) -> None:
    ids = ingest(memory)
    assert memory.forget(ids[0], "ann")
    assert keyword(memory, "Quibbleflux") == []  # neither the row nor its neighbours
    assert keyword(memory, "breed")[0] == ids[1]  # the neighbours keep the rest
    assert set(keyword(memory, "beagle")) == {ids[1], ids[2], ids[3]}
    with MemoryManager.from_settings(**settings) as other:
        assert keyword(other, "Quibbleflux") == []


def test_new_words_reach_the_neighbours_in_the_same_commit(memory) -> None:
    ids = ingest(memory)
    store = memory.store
    assert isinstance(store, LanceDBStore)
    version = store.describe()["version"]
    memory.update_memory(ids[0], "ann", content="I finally adopted a puppy called Wobblegrit")
    assert store.describe()["version"] == version + 1
    assert keyword(memory, "Quibbleflux") == []
    assert set(keyword(memory, "Wobblegrit")) == {ids[0], ids[1], ids[2]}


def test_a_reindex_keeps_the_links_between_turns(memory, settings) -> None:
    ids = ingest(memory)
    assert memory.reindex() == len(ids)
    assert set(keyword(memory, "Quibbleflux")) == {ids[0], ids[1], ids[2]}


@pytest.mark.parametrize("drop_columns", [True, False])
def test_an_older_table_gets_the_keyword_text_on_open(tmp_path, drop_columns) -> None:
    """A table written while the core's SQLite index was in use (NULL keyword columns),
    or by a release without the columns, is filled when opened with the native index:
    its conversation turns linked as the core's rebuild links them."""
    settings = {
        "storage_backend": "lancedb",
        "embedding_provider": "hash",
        "vector_store_dir": str(tmp_path / "data"),
    }
    with MemoryManager.from_settings(**settings, keyword_index="core") as old:
        assert old.memories.keywords is not None
        assert not isinstance(old.memories.keywords, LanceRowKeywords)
        ids = ingest(old)
        store = old.store
        assert isinstance(store, LanceDBStore)
        if drop_columns:
            store._table().drop_columns(["kw_terms", "kw_links", "kw_text"])
    with MemoryManager.from_settings(**settings, keyword_index="core") as old:
        ids.append(old.write_memory("Ann walks the dog at dawn", "ann").id)  # no columns: fine
    with MemoryManager.from_settings(**settings, keyword_index="native") as memory:
        assert set(keyword(memory, "Quibbleflux")) == {ids[0], ids[1], ids[2]}
        assert set(keyword(memory, "July")) == set(ids[:-1])
        assert keyword(memory, "dawn") == [ids[-1]]


def test_a_user_id_with_quotes_stays_data_when_neighbours_are_rewritten(memory) -> None:
    """The rows linking to a forgotten turn are found by SQL text (lance has no list
    expression objects): every value in it is hex, so quotes cannot end a literal."""
    user = "o'brien\\' OR '1'='1"
    ids = ingest(memory, user)
    ingest(memory, "mallory")
    assert memory.forget(ids[0], user)
    assert keyword(memory, "Quibbleflux", user) == []
    assert len(keyword(memory, "Quibbleflux", "mallory")) == 3  # another user's rows untouched
