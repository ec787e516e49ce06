"""The keyword side in Postgres: the core's keyword text, links between turns, BM25 ranking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from llm_memory import MemoryManager
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_postgres.keyword import PostgresKeywordIndex

pytestmark = pytest.mark.server

WHEN = datetime(2023, 7, 7, 12, 0, tzinfo=UTC)


def _turn(n: int, content: str, user: str = "ada", **fields: object) -> MemoryItem:
    return MemoryItem(
        id=f"t{n}", user_id=user, content=content, type="episodic", created_at=WHEN, **fields
    )


@pytest.fixture(params=[False, True], ids=["plain", "rls"])
def index(request, open_store) -> PostgresKeywordIndex:
    return open_store(row_level_security=request.param).own_keyword_index(None)


def _ids(index, text, flt=None, k=10) -> list[str]:
    return [i for i, _ in index.search(text, flt or MemoryFilter("ada"), k)]


def test_neighbours_words_find_a_turn_until_the_neighbour_is_forgotten(index):
    turns = [_turn(1, "we went there"), _turn(2, "the zeppelin museum"), _turn(3, "loved it")]
    index.add(turns, [["t2"], ["t1", "t3"], ["t2"]])
    assert _ids(index, "zeppelin") == ["t2", "t1", "t3"]  # own words outrank a neighbour's
    index.clear()  # a reindex: the rows go, the links stay and give the context back
    index.add(turns)
    assert _ids(index, "zeppelin") == ["t2", "t1", "t3"]
    index.delete("ada", ["t2"])
    assert _ids(index, "zeppelin") == []
    assert _ids(index, "loved") == ["t3"]


def test_date_words_filters_and_users(index):
    index.add([_turn(1, "a picnic"), _turn(2, "a picnic", session_id="s2")])
    index.add([_turn(1, "a picnic", user="bob")])
    assert set(_ids(index, "july 2023 picnic")) == {"t1", "t2"}
    assert _ids(index, "picnic", MemoryFilter("ada", session_id="s2")) == ["t2"]
    assert _ids(index, "picnic", MemoryFilter("ada", types=("semantic",))) == []
    assert _ids(index, "picnic", MemoryFilter("ada", until=WHEN)) == []
    assert _ids(index, "picnic", MemoryFilter("bob")) == ["t1"]
    index.delete_user("ada")
    assert _ids(index, "picnic") == [] and _ids(index, "picnic", MemoryFilter("bob")) == ["t1"]


def test_rarer_words_rank_higher(index):
    index.add([_turn(n, f"common words here number {n}") for n in range(1, 9)])
    index.add([_turn(9, "common words and a rare giraffe")])
    found = index.search("common giraffe", MemoryFilter("ada"), 3)
    assert found[0][0] == "t9" and all(score > 0 for _, score in found)


def test_the_manager_keeps_the_keyword_rows_in_step(pg_dsn, pg_table, monkeypatch, tmp_path):
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("POSTGRES_TABLE", pg_table)
    with MemoryManager.from_settings(storage_backend="postgres", vector_store_dir=tmp_path) as m:
        written = m.write_memory("Ada's bicycle is a red Gazelle", "ada")
        m.write_memory("Ada drinks green tea", "ada")
        hits = m.retrieve("gazelle", "ada", limit=2)
        assert hits[0].memory.id == written.id and "keyword" in hits[0].sources
        m.update_memory(written.id, "ada", content="Ada's bicycle is a blue Batavus")
        assert not any("keyword" in h.sources for h in m.retrieve("gazelle", "ada", limit=2))
        assert "keyword" in m.retrieve("batavus", "ada", limit=1)[0].sources
    assert not (tmp_path / "keyword_index.sqlite3").exists()  # no SQLite index beside it


def test_existing_answers_from_the_keyword_rows(index):
    """The write path's duplicate check: which (user, id) keys are stored, per user."""
    index.add([_turn(1, "one"), _turn(2, "two"), _turn(1, "bob's one", user="bob")])
    wanted = [("ada", "t1"), ("ada", "t2"), ("ada", "t3"), ("bob", "t1"), ("bob", "t2")]
    assert index.existing(wanted) == {("ada", "t1"), ("ada", "t2"), ("bob", "t1")}
    assert index.existing([]) == set()
    index.delete("ada", ["t1"])
    assert index.existing(wanted) == {("ada", "t2"), ("bob", "t1")}
