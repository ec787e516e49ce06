"""The core's SQLite FTS5 keyword index: BM25 ranking, user isolation, consistency with
the store on every write and delete, neighbour context, and rebuilding from the store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from llm_memory import MemoryManager
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.keyword import SqliteKeywordIndex, index_location, open_keyword_index
from llm_memory.keyword import sqlite as kw_sqlite
from llm_memory.models import MemoryItem
from llm_memory.settings import load_settings
from llm_memory.storage import MemoryFilter
from llm_memory.storage.memory import MemoryStore

T0 = datetime(2023, 7, 7, 15, 0, tzinfo=UTC)


def mem(content: str, user: str = "alice", **fields) -> MemoryItem:
    return MemoryItem(user_id=user, content=content, **fields)


def ids(index: SqliteKeywordIndex, text: str, user: str = "alice", k: int = 10, **flt) -> list[str]:
    return [i for i, _ in index.search(text, MemoryFilter(user, **flt), k)]


@pytest.fixture
def index():
    index = SqliteKeywordIndex()
    yield index
    index.close()


@pytest.fixture
def manager():
    """A manager on the in-process store, with its in-memory keyword index."""
    settings = load_settings()
    store = MemoryStore()
    with MemoryManager(
        store,
        HashEmbedder(64),
        keyword_index=open_keyword_index(store, settings),
        settings=settings,
    ) as manager:
        yield manager


# -- ranking ----------------------------------------------------------------------------------
def test_bm25_puts_the_rarer_and_more_frequent_match_first(index):
    docs = [
        mem("we talked about the weather and the weather again"),
        mem("the weather was fine, we went hiking"),
        mem("I adopted a puppy from the shelter last weekend"),
        mem("hiking in the alps with the puppy"),
        mem("grocery list: apples, bread, milk"),
    ]
    index.add(docs)
    by_id = {d.id: d.content for d in docs}
    # "puppy" is rarer than "weather"... both match two documents; "adopt" only one.
    assert [by_id[i] for i in ids(index, "Did they adopt a puppy?")][:1] == [docs[2].content]
    # Term frequency counts: the doc saying "weather" twice ranks above the one saying it once.
    assert ids(index, "weather")[:2] == [docs[0].id, docs[1].id]
    scores = [s for _, s in index.search("puppy hiking", MemoryFilter("alice"), 10)]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert index.search("milk", MemoryFilter("alice"), 10)[0][0] == docs[4].id


def test_stemming_and_stop_words_make_queries_match(index):
    index.add([mem("Caroline: I've been researching adoption agencies"), mem("The cat sat.")])
    assert len(ids(index, "What did Caroline research?")) == 1  # research(ing), carolin(e)
    assert len(ids(index, "adopting")) == 1  # adoption / adopting -> adopt
    assert ids(index, "what was it that they did") == []  # only stop words: no query
    assert ids(index, "") == []


def test_queries_with_fts_syntax_are_plain_words(index):
    index.add([mem('he said "NEAR" and OR AND NOT (x) * ^ col:umn')])
    for text in ['"', "NEAR(a b)", "a OR", "col:umn", "(x", "*", "o'neil's", "NOT"]:
        index.search(text, MemoryFilter("alice"), 5)  # never a syntax error
    assert len(ids(index, "near")) == 1


def test_filters_apply_before_the_top_k(index):
    index.add(
        [
            mem("paint the fence", type="fact", created_at=T0),
            mem(
                "paint the house",
                type="episodic",
                created_at=T0 + timedelta(days=2),
                session_id="s1",
            ),
        ]
    )
    assert len(ids(index, "paint", types=("fact",))) == 1
    assert len(ids(index, "paint", types=())) == 0
    assert len(ids(index, "paint", since=T0 + timedelta(days=1))) == 1
    assert len(ids(index, "paint", until=T0 + timedelta(days=1))) == 1
    assert len(ids(index, "paint", session_id="s1")) == 1


def test_an_episodic_memory_is_found_by_its_date(index):
    index.add([mem("we went camping", type="episodic", created_at=T0), mem("we went camping too")])
    assert len(ids(index, "camping in July 2023")) == 2
    assert ids(index, "July 2023") == [mem("we went camping", type="episodic", created_at=T0).id]


# -- users --------------------------------------------------------------------------------------
def test_each_user_only_finds_their_own_memories(index):
    index.add([mem("quantum physics notes", "alice"), mem("quantum quantum quantum", "bob")])
    assert len(ids(index, "quantum", "alice")) == 1
    assert len(ids(index, "quantum", "bob")) == 1
    assert ids(index, "quantum", "carol") == []
    index.delete_user("bob")
    assert ids(index, "quantum", "bob") == [] and len(ids(index, "quantum", "alice")) == 1


def test_the_same_id_under_two_users_is_two_rows(index):
    a, b = mem("shared words here", "alice", id="m1"), mem("shared words here", "bob", id="m1")
    index.add([a, b])
    assert index.count() == 2
    index.delete("alice", ["m1"])
    assert ids(index, "shared", "alice") == [] and ids(index, "shared", "bob") == ["m1"]


# -- neighbours -----------------------------------------------------------------------------------
def test_a_turn_is_found_through_its_neighbours_and_forgetting_one_removes_its_words(index):
    question = mem("Melanie: what instrument do you play?", id="q")
    answer = mem("Caroline: the violin, since I was six", id="a")
    other = mem("Caroline: I love pottery", id="o")
    index.add([question, answer, other], [[], ["q"], []])
    # The answer never says "instrument"; its neighbour does (at half weight).
    assert ids(index, "instrument") == ["q", "a"]
    index.delete("alice", ["q"])
    assert ids(index, "instrument") == []
    assert ids(index, "violin") == ["a"]


def test_re_adding_a_turn_restores_its_context_and_updates_its_neighbours(index):
    q, a = mem("what instrument do you play", id="q"), mem("the violin", id="a")
    index.add([q, a], [[], ["q"]])
    index.clear()  # a reindex or a restore clears the index, then refills it
    index.add([a])
    assert ids(index, "instrument") == []  # its neighbour is not back yet
    index.add([q])
    assert ids(index, "instrument") == ["q", "a"]


# -- consistency with the store through the manager ------------------------------------------------
def test_the_manager_keeps_the_index_in_step_with_the_store(manager):
    index = manager.keyword_index
    kept = manager.write_memory("I moved to Oslo in 2021", "alice")
    gone = manager.write_memory("My dog is called Rex", "alice")
    manager.write_memory("Rex is also my dog's name", "bob")
    assert index.count() == manager.store.count() == 3
    manager.write_memory("My dog is called Rex", "alice", importance=0.9)  # refresh, no new row
    assert index.count() == 3
    assert manager.forget(gone.id, "alice")
    assert ids(index, "dog Rex") == [] and len(ids(index, "dog Rex", "bob")) == 1
    assert manager.forget_user("bob") == 1
    assert index.count() == manager.store.count() == 1
    assert ids(index, "Oslo") == [kept.id]
    assert manager.purge(retention_days=1, now=datetime.now(UTC) + timedelta(days=30)) == 1
    assert index.count() == manager.store.count() == 0


def test_ingest_conversation_links_turns_and_rebuild_keeps_the_links(manager):
    turns = [
        {"speaker": "Mel", "content": "what instrument do you play?", "timestamp": T0},
        {"speaker": "Caroline", "content": "the violin, for years now", "timestamp": T0},
        {"speaker": "Mel", "content": "so cool!", "timestamp": T0 + timedelta(days=3)},
    ]
    q, a, _later = manager.ingest_conversation(turns, "alice")
    index = manager.keyword_index
    assert ids(index, "instrument") == [q.id, a.id]  # the third turn is days away: not a neighbour
    assert index.rebuild() == 3
    assert ids(index, "instrument") == [q.id, a.id]
    best = manager.retrieve("Caroline's instrument", "alice", limit=1)
    assert best[0].memory.id == a.id


def test_an_index_out_of_step_is_synced_on_open_without_losing_context(tmp_path):
    settings = load_settings(storage_backend="memory", vector_store_dir=tmp_path)
    with MemoryManager.from_settings(settings) as manager:
        turns = [{"content": "what instrument do you play?"}, {"content": "the violin"}]
        question, answer = manager.ingest_conversation(turns, "alice")
        path, _ = index_location(manager.store, settings)
        assert Path(path).parent == tmp_path and Path(path).exists()
    # A write that reached the store but not the index (a crash between the two).
    store = MemoryStore(tmp_path / "memory_store.json")
    store.upsert([mem("a lonely trumpet")], HashEmbedder().embed_documents(["a lonely trumpet"]))
    with MemoryManager.from_settings(settings) as manager:
        index = manager.keyword_index
        assert index.count() == manager.store.count() == 3
        assert len(ids(index, "trumpet")) == 1
        assert len(ids(index, "instrument")) == 2  # the conversation kept its context
    # A lost index file is rebuilt from the store; turns stored a microsecond apart are
    # linked again in their order.
    for file in tmp_path.glob("*.sqlite3*"):
        file.unlink()
    with MemoryManager.from_settings(settings) as manager:
        assert manager.keyword_index.count() == 3
        assert ids(manager.keyword_index, "violin") == [answer.id, question.id]
        assert ids(manager.keyword_index, "instrument") == [question.id, answer.id]


def test_an_index_of_an_older_format_is_rebuilt(tmp_path, monkeypatch):
    settings = load_settings(storage_backend="memory", vector_store_dir=tmp_path)
    with MemoryManager.from_settings(settings) as manager:
        manager.write_memory("hello world of keywords", "alice")
    monkeypatch.setattr(kw_sqlite, "FORMAT", "fts5-v999")
    with MemoryManager.from_settings(settings) as manager:
        assert manager.keyword_index.fresh is False
        assert len(ids(manager.keyword_index, "keywords")) == 1
        path, table = index_location(manager.store, settings)
    with sqlite3.connect(path) as db:
        assert db.execute(f'SELECT value FROM "{table}_meta"').fetchone() == ("fts5-v999",)


def test_a_store_without_persistence_gets_an_in_memory_index():
    settings = load_settings()
    path, table = index_location(MemoryStore(), settings)
    assert path == ":memory:" and table.startswith("kw_memory_")


def test_hybrid_search_off_builds_no_index(tmp_path):
    with MemoryManager.from_settings(
        storage_backend="memory", vector_store_dir=tmp_path, hybrid_search=False
    ) as manager:
        assert manager.keyword_index is None
        manager.write_memory("plain vector search still works", "alice")
        assert manager.retrieve("vector search", "alice")[0].memory.content.startswith("plain")
    # Only the history log (not a keyword index) is kept beside the store.
    assert [p.name for p in tmp_path.glob("*.sqlite3")] == ["memory_store.history.sqlite3"]


def test_equal_counts_do_not_hide_a_write_and_a_delete_made_elsewhere(tmp_path):
    """Process B's index; A writes X and deletes an older Y through the store directly (the
    counts stay equal); B reopens: X is keyword-searchable, Y is not, and the rows in
    step are not rewritten (no full rebuild)."""
    settings = load_settings(storage_backend="memory", vector_store_dir=tmp_path)
    with MemoryManager.from_settings(settings) as manager:
        kept = manager.write_memory("the quokka sleeps in the shade", "alice")
        older = manager.write_memory("an ancient zorblax sighting", "alice")
        path, table = index_location(manager.store, settings)
    with sqlite3.connect(path) as db:
        kept_row = db.execute(
            f'SELECT rowid FROM "{table}_docs" WHERE memory_id = ?', (kept.id,)
        ).fetchone()
    store = MemoryStore(tmp_path / "memory_store.json")
    store.upsert([mem("a fresh vextrium report")], HashEmbedder().embed_documents(["x"]))
    assert store.delete("alice", [older.id]) == 1
    assert store.count() == 2
    store.close()
    with MemoryManager.from_settings(settings) as manager:
        index = manager.keyword_index
        assert index.count() == 2
        assert len(ids(index, "vextrium")) == 1
        assert ids(index, "zorblax") == []
        assert ids(index, "quokka") == [kept.id]
        found = manager.retrieve("vextrium", "alice", limit=2)
        assert found[0].memory.content == "a fresh vextrium report"
    with sqlite3.connect(path) as db:
        assert (
            db.execute(
                f'SELECT rowid FROM "{table}_docs" WHERE memory_id = ?', (kept.id,)
            ).fetchone()
            == kept_row
        )


def test_a_memory_changed_elsewhere_is_re_indexed_on_open(tmp_path):
    settings = load_settings(storage_backend="memory", vector_store_dir=tmp_path)
    with MemoryManager.from_settings(settings) as manager:
        item = manager.write_memory("my favourite bird is the kestrel", "alice")
    store = MemoryStore(tmp_path / "memory_store.json")
    store.update([item.model_copy(update={"content": "my favourite bird is the plover"})])
    store.close()
    with MemoryManager.from_settings(settings) as manager:
        assert ids(manager.keyword_index, "plover") == [item.id]
        assert ids(manager.keyword_index, "kestrel") == []
