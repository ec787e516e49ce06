"""The memory engine through its public API, on the built-in providers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from llm_memory import MemoryManager
from llm_memory.embedding import Embedder
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import EmbedderMismatch, EmbeddingError, NotFound, ValidationFailed
from llm_memory.storage.memory import MemoryStore

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


class CountingEmbedder(HashEmbedder):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.document_calls: list[list[str]] = []
        self.query_calls: list[list[str]] = []

    def embed_documents(self, texts):
        self.document_calls.append(list(texts))
        return super().embed_documents(texts)

    def embed_queries(self, texts):
        self.query_calls.append(list(texts))
        return super().embed_documents(texts)


class FailingEmbedder(HashEmbedder):
    def embed_documents(self, texts):
        raise ConnectionError("provider unreachable")


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder(dimension=256)


@pytest.fixture
def memory(embedder) -> MemoryManager:
    return MemoryManager(MemoryStore(), embedder)


def test_write_and_retrieve_with_score_components(memory) -> None:
    memory.write_memory("I love hiking in the Alps", "alice", type="preference", importance=0.9)
    memory.write_memory("The capital of France is Paris", "alice")
    (best, *_rest) = memory.retrieve("hiking trips in the mountains", "alice")
    assert best.memory.content == "I love hiking in the Alps"
    assert best.relevance == pytest.approx(1 / 3)  # one of the query's three content words
    expected = 0.5 * best.relevance + 0.3 * best.importance + 0.2 * best.recency
    assert best.score == pytest.approx(expected)


def test_a_batch_is_embedded_in_one_call(memory, embedder) -> None:
    memory.write_memories({"user_id": "u", "content": f"memory number {i}"} for i in range(50))
    assert len(embedder.document_calls) == 1
    assert len(embedder.document_calls[0]) == 50


def test_queries_are_embedded_as_queries(memory, embedder) -> None:
    memory.write_memory("tea", "u")
    memory.retrieve("what do I drink", "u")
    assert embedder.query_calls == [["what do I drink"]]


def test_one_invalid_item_writes_nothing(memory) -> None:
    with pytest.raises(ValidationFailed, match=r"Memory #2 .* importance"):
        memory.write_memories(
            [
                {"user_id": "u", "content": "fine"},
                {"user_id": "u", "content": "bad", "importance": 3},
            ]
        )
    assert memory.store.count() == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"user_id": "", "content": "x"},
        {"user_id": "u", "content": "   "},
        {"user_id": "u", "content": "x", "type": "gossip"},
        {"user_id": "u", "content": "x", "metadata": {"nested": {"no": 1}}},
        {"user_id": "u", "content": "x", "unexpected": 1},
    ],
)
def test_bad_input_is_refused_with_a_clear_error(memory, bad) -> None:
    with pytest.raises(ValidationFailed, match="nothing was written"):
        memory.write_memories([bad])
    assert memory.store.count() == 0


def test_a_failed_embedding_call_writes_nothing() -> None:
    memory = MemoryManager(MemoryStore(), FailingEmbedder(dimension=64))
    with pytest.raises(EmbeddingError, match="provider unreachable"):
        memory.write_memories([{"user_id": "u", "content": "a"}, {"user_id": "u", "content": "b"}])
    assert memory.store.count() == 0


def test_identical_content_is_refreshed_not_duplicated(memory) -> None:
    first = memory.write_memory("I drink green tea", "u", importance=0.3, created_at=T0)
    again = memory.write_memory("I drink green tea", "u", importance=0.8)
    assert again.id == first.id
    assert memory.store.count("u") == 1
    stored = memory.get(first.id, "u")
    assert stored.importance == 0.8
    assert stored.created_at == T0
    assert stored.updated_at > T0


def test_the_same_words_of_two_users_are_two_memories(memory) -> None:
    a = memory.write_memory("I drink green tea", "alice")
    b = memory.write_memory("I drink green tea", "bob")
    assert a.id != b.id
    assert memory.store.count() == 2


def test_user_isolation_on_every_read(memory) -> None:
    secret = memory.write_memory("Alice's bank PIN hint is her cat", "alice")
    memory.write_memory("Bob likes cats", "bob")
    assert all(r.memory.user_id == "bob" for r in memory.retrieve("cat PIN", "bob"))
    assert [m.user_id for m in memory.list("bob")] == ["bob"]
    with pytest.raises(NotFound):
        memory.get(secret.id, "bob")
    assert memory.forget(secret.id, "bob") is False
    assert memory.get(secret.id, "alice").content == secret.content
    assert list(memory.export("bob")) and all(
        '"alice"' not in line for line in memory.export("bob")
    )


def test_user_id_is_required(memory) -> None:
    for call in (
        lambda: memory.retrieve("x", ""),
        lambda: memory.list("  "),
        lambda: memory.forget_user(""),
        lambda: memory.write_memory("x", ""),
    ):
        with pytest.raises(ValidationFailed):
            call()


def test_ingest_conversation_keeps_time_metadata_and_order(memory) -> None:
    turns = [
        {
            "speaker": "Caroline",
            "content": "I went to a support group yesterday",
            "timestamp": T0,
            "metadata": {"dia_id": "D1:3", "turn": 3, "photo": False},
        },
        {"role": "assistant", "content": "That sounds meaningful"},
        {"content": "ok"},
        {"content": "ok"},
    ]
    stored = memory.ingest_conversation(turns, "c1", session_id="s1")
    assert [m.type for m in stored] == ["episodic"] * 4
    assert stored[0].content == "Caroline: I went to a support group yesterday"
    assert stored[0].created_at == T0
    assert stored[1].content == "assistant: That sounds meaningful"
    assert stored[2].id != stored[3].id  # "ok" said twice is two turns
    assert stored[2].created_at < stored[3].created_at
    (hit,) = memory.retrieve("support group", "c1", limit=1)
    assert hit.memory.metadata == {"dia_id": "D1:3", "turn": 3, "photo": False}
    assert hit.memory.created_at == T0
    assert hit.memory.session_id == "s1"


def test_ingest_refuses_a_bad_turn_and_writes_nothing(memory) -> None:
    with pytest.raises(ValidationFailed, match="Turn #2"):
        memory.ingest_conversation([{"content": "fine"}, {"content": ""}], "u")
    assert memory.store.count() == 0


def test_recency_is_measured_from_now(memory) -> None:
    memory.write_memory("The meeting moved to Tuesday", "u", created_at=T0)
    (hit,) = memory.retrieve("meeting", "u", now=T0 + timedelta(days=30))
    assert hit.recency == pytest.approx(0.5)


def test_recency_and_importance_never_pull_in_irrelevant_memories(memory) -> None:
    for i in range(40):
        memory.write_memory(
            f"Very important unrelated fact number {i} about taxes", "u", importance=1.0
        )
    memory.write_memory("My favourite colour is teal", "u", importance=0.0, created_at=T0)
    results = memory.retrieve("what is my favourite colour", "u", limit=1)
    assert results[0].memory.content == "My favourite colour is teal"


def test_types_filter(memory) -> None:
    memory.write_memory("I prefer window seats", "u", type="preference")
    memory.write_memory("Window cleaning is on Fridays", "u", type="fact")
    assert {r.memory.type for r in memory.retrieve("window", "u", types=["fact"])} == {"fact"}
    with pytest.raises(ValidationFailed, match="Unknown memory type"):
        memory.retrieve("window", "u", types=["gossip"])


def test_retrieval_counts_accesses(memory) -> None:
    item = memory.write_memory("I play the cello", "u")
    memory.retrieve("cello", "u")
    memory.retrieve("cello", "u")
    stored = memory.get(item.id, "u")
    assert stored.access_count == 2
    assert stored.last_accessed_at is not None


def test_forget_and_forget_user(memory) -> None:
    a = memory.write_memory("one", "u")
    memory.write_memory("two", "u")
    memory.write_memory("three", "v")
    assert memory.forget(a.id, "u") is True
    assert memory.forget(a.id, "u") is False
    assert memory.forget_user("u") == 1
    assert memory.store.count("u") == 0
    assert memory.store.count("v") == 1


def test_purge_removes_only_unused_memories(memory) -> None:
    now = datetime.now(UTC)
    old = memory.write_memory("an old thing", "u", created_at=now - timedelta(days=200))
    memory.write_memory("a fresh thing", "u")
    used = memory.write_memory("an old but used thing", "u", created_at=now - timedelta(days=200))
    memory.retrieve("used thing", "u", limit=1)
    assert memory.purge(retention_days=90) == 1
    ids = {m.id for m in memory.list("u")}
    assert old.id not in ids and used.id in ids


def test_stats(memory) -> None:
    memory.write_memory("x", "u", type="fact")
    memory.ingest_conversation([{"content": "hello"}], "v")
    stats = memory.stats()
    assert stats["total"] == 2
    assert stats["users"]["u"]["fact"] == 1
    assert stats["users"]["v"]["episodic"] == 1
    assert stats["storage"]["backend"] == "memory"
    assert stats["embedder"]["dimension"] == 256


def test_export_import_roundtrip_recomputes_vectors(memory) -> None:
    memory.write_memory("I live in Oslo", "u", type="fact", metadata={"source": "chat", "n": 2})
    memory.ingest_conversation([{"speaker": "A", "content": "hi there", "timestamp": T0}], "v")
    lines = list(memory.export())
    other = MemoryManager(MemoryStore(), HashEmbedder(dimension=128))
    assert other.import_(lines) == 2
    assert [json.loads(x) for x in other.export()] == [json.loads(x) for x in lines]
    assert other.retrieve("Oslo", "u")[0].memory.metadata == {"source": "chat", "n": 2}


def test_import_validates_every_line_first(memory) -> None:
    good = json.dumps({"user_id": "u", "content": "fine"})
    with pytest.raises(ValidationFailed, match="Line 2"):
        memory.import_([good, "{not json", good])
    with pytest.raises(ValidationFailed, match="Line 3"):
        memory.import_([good, good, json.dumps({"user_id": "u", "content": "x", "importance": 9})])
    assert memory.store.count() == 0


def test_import_checks_every_line_as_a_write_would_before_the_first_batch(memory) -> None:
    rows = [json.dumps({"user_id": "u", "content": f"fact {i}"}) for i in range(300)]
    rows[-1] = json.dumps({"user_id": "u", "content": "late", "created_at": "2999-01-01T00:00:00Z"})
    with pytest.raises(ValidationFailed, match=r"^Line 300 is not a valid memory.*created_at"):
        memory.import_(rows)
    assert memory.store.count() == 0
    first = memory.import_(rows[:3])
    assert (first, first.new, first.refreshed) == (3, 3, 0)
    again = memory.import_(rows[:4])
    assert (again, again.new, again.refreshed) == (4, 1, 3)
    assert memory.store.count() == 4


def test_a_different_embedder_is_refused_until_reindex() -> None:
    store = MemoryStore()
    MemoryManager(store, HashEmbedder(dimension=64)).write_memory("I like jazz", "u")
    other = MemoryManager(store, HashEmbedder(dimension=128))
    with pytest.raises(EmbedderMismatch, match="llm-memory reindex"):
        other.retrieve("jazz", "u")
    with pytest.raises(EmbedderMismatch):
        other.write_memory("more", "u")
    assert other.reindex() == 1
    assert other.retrieve("jazz", "u")[0].memory.content == "I like jazz"
    assert store.embedding_info().dimension == 128


def test_an_empty_store_takes_the_new_embedder() -> None:
    store = MemoryStore()
    first = MemoryManager(store, HashEmbedder(dimension=64))
    item = first.write_memory("temporary", "u")
    first.forget(item.id, "u")
    MemoryManager(store, HashEmbedder(dimension=32)).write_memory("fresh start", "u")
    assert store.embedding_info().dimension == 32


def test_from_settings_builds_the_configured_parts(tmp_path) -> None:
    memory = MemoryManager.from_settings(
        storage_backend="memory", vector_store_dir=tmp_path / "data"
    )
    memory.write_memory("persisted between processes", "u")
    memory.close()
    again = MemoryManager.from_settings(
        storage_backend="memory", vector_store_dir=tmp_path / "data"
    )
    assert [m.content for m in again.list("u")] == ["persisted between processes"]


class WrongCountEmbedder(Embedder):
    name = "wrong"
    model = "wrong"

    @property
    def dimension(self) -> int:
        return 8

    def embed_documents(self, texts):
        return [[1.0] * 8]


def test_an_embedder_returning_too_few_vectors_is_caught() -> None:
    memory = MemoryManager(MemoryStore(), WrongCountEmbedder())
    with pytest.raises(EmbeddingError, match="1 vectors for 2 texts"):
        memory.write_memories([{"user_id": "u", "content": "a"}, {"user_id": "u", "content": "b"}])
    assert memory.store.count() == 0


class _SharedWithNativeIndex(MemoryStore):
    """A store other machines write too, with its own full-text index."""

    capabilities = frozenset({"keyword_search", "shared"})


@pytest.mark.parametrize(
    ("store", "mode", "core_index"),
    [
        (MemoryStore(), "auto", True),
        (_SharedWithNativeIndex(), "auto", False),  # a local file would miss other machines' writes
        (_SharedWithNativeIndex(), "core", True),
        (MemoryStore(), "native", False),
    ],
)
def test_which_keyword_index_is_used(store, mode, core_index) -> None:
    from llm_memory.manager import _keyword_index_for
    from llm_memory.settings import load_settings

    index = _keyword_index_for(store, load_settings(keyword_index=mode))
    assert (index is not None) == core_index


def test_a_writer_waits_for_reads_already_in_flight() -> None:
    """What keeps a restore from starting under a reader that already holds the store."""
    import threading
    import time

    from llm_memory.locks import ReadWriteLock

    lock, order, inside = ReadWriteLock(), [], threading.Event()

    def reader() -> None:
        with lock.reading():
            inside.set()
            time.sleep(0.2)
            with lock.reading():  # reads nest
                order.append("read done")

    thread = threading.Thread(target=reader)
    thread.start()
    inside.wait()
    with lock.writing():
        order.append("write")
    thread.join()
    assert order == ["read done", "write"]


def test_access_statistics_are_flushed_by_the_timer_alone() -> None:
    """However many memories reads touch, they are written once per timer period (the
    bound on read traffic's commits), not whenever a buffer fills."""
    from datetime import UTC, datetime

    from llm_memory.access import AccessTracker
    from llm_memory.models import MemoryItem, ScoredMemory

    calls: list[int] = []

    class Recorder:
        def record_access(self, accesses) -> None:
            calls.append(len(accesses))

    tracker = AccessTracker(Recorder(), delay=3600)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(50):
        batch = [
            ScoredMemory(
                memory=MemoryItem(user_id="u", content=f"m {n} {i}"),
                score=1.0,
                relevance=1.0,
                importance=0.5,
                recency=1.0,
            )
            for i in range(100)
        ]
        tracker.touch(batch, at)
    assert calls == []  # 5,000 distinct memories touched, nothing written yet
    tracker.flush()
    assert calls == [5000] and tracker.flushes == 1
    tracker.flush()
    assert calls == [5000]  # nothing pending: no call
