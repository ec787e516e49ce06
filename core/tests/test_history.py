"""Updates and the change history through the Python API, the CLI and the chat agent."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from llm_memory.agent import build_agent
from llm_memory.chat import ChatService
from llm_memory.cli import cli
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import NotFound, ValidationFailed
from llm_memory.history.sqlite import SqliteHistoryLog
from llm_memory.manager import MemoryManager
from llm_memory.models import utcnow
from llm_memory.storage import MemoryFilter
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing import HistoryContract
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel

OTHERS = [
    "Paris is lovely in the spring",
    "The user plays the cello on Sundays",
    "The user's sister studies medicine",
]


class TestSqliteHistoryLog(HistoryContract):
    @pytest.fixture
    def log(self, tmp_path):
        log = SqliteHistoryLog(str(tmp_path / "history.sqlite3"), "history_t")
        yield log
        log.close()

    @pytest.fixture
    def reopen_log(self, tmp_path):
        opened = []

        def reopen(log):
            log.close()
            opened.append(SqliteHistoryLog(str(tmp_path / "history.sqlite3"), "history_t"))
            return opened[-1]

        yield reopen
        for log in opened:
            log.close()


@pytest.fixture
def manager(tmp_path):
    with MemoryManager.from_settings(
        storage_backend="memory", embedding_provider="hash", vector_store_dir=tmp_path / "store"
    ) as manager:
        yield manager


def _dense_top(manager: MemoryManager, query: str) -> str:
    vector = manager.embedder.embed_queries([query])[0]
    return manager.store.query(vector, MemoryFilter("ada"), 1)[0].item.id


def _keyword_ids(manager: MemoryManager, query: str) -> list[str]:
    assert manager.keyword_index is not None
    return [mid for mid, _ in manager.keyword_index.search(query, MemoryFilter("ada"), 5)]


def test_update_reembeds_and_reindexes_new_content(manager):
    for text in OTHERS:
        manager.write_memory(text, "ada")
    item = manager.write_memory("The user lives in Paris near the Seine", "ada")
    assert _dense_top(manager, "lives near the Seine") == item.id
    updated = manager.update_memory(item.id, "ada", content="The user moved to Oslo by a fjord")
    assert updated.id == item.id and manager.get(item.id, "ada").content.endswith("fjord")
    assert updated.updated_at > item.updated_at
    assert _dense_top(manager, "moved to Oslo by a fjord") == item.id
    assert _dense_top(manager, "lives near the Seine") != item.id
    assert _keyword_ids(manager, "fjord")[:1] == [item.id]
    assert item.id not in _keyword_ids(manager, "Seine")
    assert manager.retrieve("Oslo fjord", "ada", limit=1)[0].memory.id == item.id


def test_history_records_created_refreshed_updated_forgotten(manager):
    item = manager.write_memory("The user likes tea", "ada", actor="cli")
    manager.write_memory("The user likes tea", "ada", importance=0.9, actor="api-key:k1")
    manager.update_memory(item.id, "ada", type="preference", actor="support")
    manager.update_memory(item.id, "ada", content="The user likes green tea")
    assert manager.forget(item.id, "ada", actor="cli")
    events = manager.history(item.id, "ada")
    assert [(e.kind, e.actor) for e in events] == [
        ("created", "cli"),
        ("refreshed", "api-key:k1"),
        ("updated", "support"),
        ("updated", None),
        ("forgotten", "cli"),
    ]
    assert events[0].new == {"content": "The user likes tea", "type": "semantic", "importance": 0.5}
    assert (events[1].old, events[1].new) == ({"importance": 0.5}, {"importance": 0.9})
    assert (events[2].old, events[2].new) == ({"type": "semantic"}, {"type": "preference"})
    assert events[3].old == {"content": "The user likes tea"}
    assert events[4].old == {
        "content": "The user likes green tea",
        "type": "preference",
        "importance": 0.9,
    }
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)


def test_update_refuses_bad_input_and_writes_nothing(manager):
    item = manager.write_memory("The user likes tea", "ada")
    manager.write_memory("The user likes coffee", "ada")
    with pytest.raises(NotFound):
        manager.update_memory("no-such-id", "ada", content="x")
    with pytest.raises(NotFound):
        manager.update_memory(item.id, "bob", content="Bob's now")
    with pytest.raises(ValidationFailed, match="Nothing to update"):
        manager.update_memory(item.id, "ada")
    with pytest.raises(ValidationFailed, match="importance"):
        manager.update_memory(item.id, "ada", importance=3)
    with pytest.raises(ValidationFailed, match="type"):
        manager.update_memory(item.id, "ada", type="gossip")
    with pytest.raises(ValidationFailed, match="already says this"):
        manager.update_memory(item.id, "ada", content="The user likes coffee")
    assert manager.update_memory(item.id, "ada", importance=0.5) == manager.get(item.id, "ada")
    assert [e.kind for e in manager.history(item.id, "ada")] == ["created"]
    assert manager.get(item.id, "ada").content == "The user likes tea"


def test_one_user_never_reads_or_erases_anothers_history(manager):
    alice = manager.write_memory("Alice's locker is 12", "alice")
    manager.write_memory("Bob's locker is 7", "bob")
    for user in ["bob", "bob' OR '1'='1", "%", "alice "[:-1] + "%"]:
        with pytest.raises(NotFound):
            manager.history(alice.id, user)
    manager.forget_user("bob")
    assert [e.kind for e in manager.history(alice.id, "alice")] == ["created"]
    with pytest.raises(ValidationFailed):
        manager.history(alice.id, " ")


def test_forget_user_erases_the_users_history(manager):
    item = manager.write_memory("The user likes tea", "ada")
    manager.forget(item.id, "ada")
    assert len(manager.history(item.id, "ada")) == 2
    manager.forget_user("ada")
    with pytest.raises(NotFound):
        manager.history(item.id, "ada")
    assert manager.history_log.users() == []


def test_retention_purges_the_history_of_removed_memories(manager):
    stale = manager.write_memory("Old news", "ada", created_at=utcnow() - timedelta(days=30))
    gone = manager.write_memory("The user likes tea", "ada")
    kept = manager.write_memory("Future plans", "ada", created_at=utcnow() + timedelta(hours=20))
    manager.forget(gone.id, "ada")
    assert manager.purge(retention_days=10) == 1
    assert [(e.kind, e.actor) for e in manager.history(stale.id, "ada")][-1] == (
        "purged",
        "retention",
    )
    assert len(manager.history(gone.id, "ada")) == 2  # removed today: kept for now
    manager.purge(retention_days=1, now=utcnow() + timedelta(hours=36))
    for removed in (stale, gone):
        with pytest.raises(NotFound):
            manager.history(removed.id, "ada")
    assert [e.kind for e in manager.history(kept.id, "ada")] == ["created"]


def test_history_is_kept_beside_a_persistent_store(tmp_path):
    settings = {
        "storage_backend": "memory",
        "embedding_provider": "hash",
        "vector_store_dir": tmp_path / "store",
    }
    with MemoryManager.from_settings(**settings) as manager:
        item = manager.write_memory("The user likes tea", "ada")
        manager.update_memory(item.id, "ada", content="The user likes mint tea")
    assert (tmp_path / "store" / "memory_store.history.sqlite3").is_file()
    with MemoryManager.from_settings(**settings) as manager:
        assert [e.kind for e in manager.history(item.id, "ada")] == ["created", "updated"]


def _call(name: str, **args) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args)])


def test_an_agent_correction_is_one_supersession(manager):
    old = manager.write_memory("The user lives in Paris.", "ada", type="fact")
    other = manager.write_memory("The user plays the cello.", "ada")
    steps = [
        _call("forget_memory", memory_id=old.id),
        _call("update_memory", update={"content": "The user lives in Oslo.", "type": "fact"}),
        ModelResponse(parts=[TextPart("Noted, Oslo.")]),
    ]
    runs: list = []

    def respond(messages, info):
        runs.append(messages)
        return steps[len(runs) - 1]

    reply = ChatService(manager, build_agent(FunctionModel(respond))).chat(
        "I don't live in Paris any more, I moved to Oslo", "ada"
    )
    new = next(m for m in reply.created if m.content == "The user lives in Oslo.")
    assert reply.forgotten == [old.id]
    events = manager.history(new.id, "ada")
    assert [(e.memory_id, e.kind) for e in events] == [
        (old.id, "created"),
        (new.id, "created"),
        (old.id, "superseded"),
    ]
    assert events[2].related_id == new.id and events[2].old["content"] == old.content
    assert events[1].actor == events[2].actor and events[2].actor.startswith("agent:")
    assert len(events[2].actor) > len("agent:")
    assert [e.kind for e in manager.history(other.id, "ada")] == ["created"]
    assert manager.history(old.id, "ada")[-1].kind == "superseded"


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("EMBEDDING_PROVIDER", "hash")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "store"))

    def invoke(*args: str, ok: bool = True):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        return result

    return invoke


def test_cli_update_and_history(run):
    for text in OTHERS:
        run("add", text, "--user", "ada")
    memory_id = run("add", "The user lives in Paris", "--user", "ada").output.strip()
    out = run("update", memory_id[:12], "--user", "ada", "--content", "The user lives in Oslo")
    assert out.output.strip() == memory_id
    found = json.loads(run("search", "Oslo", "--user", "ada", "--json", "-k", "1").output)
    assert found[0]["memory"]["id"] == memory_id
    shown = json.loads(run("update", memory_id, "-u", "ada", "-i", "0.9", "--json").output)
    assert shown["importance"] == 0.9 and shown["content"] == "The user lives in Oslo"
    run("forget", memory_id, "--user", "ada")
    events = json.loads(run("history", memory_id, "--user", "ada", "--json").output)
    assert [(e["kind"], e["actor"]) for e in events] == [
        ("created", "cli"),
        ("updated", "cli"),
        ("updated", "cli"),
        ("forgotten", "cli"),
    ]
    table = run("history", memory_id, "--user", "ada").output
    assert '"The user lives in Paris" -> "The user lives in Oslo"' in table
    assert "Nothing to update" in run("update", memory_id, "-u", "ada", ok=False).output
    missing = run("history", "nope", "--user", "ada", ok=False).output
    assert "No memory 'nope'" in missing
    assert "No memory" in run("history", memory_id, "--user", "bob", ok=False).output


def test_a_snapshot_carries_the_history_and_a_restore_brings_it_back(manager, tmp_path):
    kept = manager.write_memory("The user likes tea", "ada", actor="cli")
    manager.update_memory(kept.id, "ada", content="The user likes mint tea", actor="cli")
    gone = manager.write_memory("The user lives in Paris", "ada")
    manager.forget(gone.id, "ada")
    bobs = manager.write_memory("Bob likes chess", "bob")
    before = {m: manager.history(m, u) for m, u in [(kept.id, "ada"), (gone.id, "ada")]}
    snapshot = manager.snapshots.create()
    later = manager.write_memory("The user plays golf", "ada")
    manager.forget_user("ada")
    manager.snapshots.restore(snapshot.id)
    assert manager.history(kept.id, "ada")[:2] == before[kept.id]
    assert [(e.kind, e.actor) for e in manager.history(kept.id, "ada")][2:] == [
        ("restored", "restore")
    ]
    assert manager.history(gone.id, "ada") == before[gone.id]  # forgotten, not restored
    with pytest.raises(NotFound):  # erased by forget_user, and not in the snapshot
        manager.history(later.id, "ada")
    assert [e.kind for e in manager.history(bobs.id, "bob")] == ["created"]  # unchanged
    # A restore is idempotent on the history too: nothing doubles.
    manager.snapshots.restore(snapshot.id)
    assert len(manager.history(kept.id, "ada")) == 3


def test_a_restore_into_another_store_carries_history(manager, tmp_path):
    item = manager.write_memory("The user likes tea", "ada")
    manager.update_memory(item.id, "ada", importance=0.9, actor="cli")
    ref = manager.snapshots.create(user_id="ada")
    archive = tmp_path / "ada.tar"
    manager.snapshot_store.fetch(ref.id, archive)
    with MemoryManager.from_settings(
        storage_backend="memory", embedding_provider="hash", vector_store_dir=tmp_path / "other"
    ) as other:
        moved = other.write_memory("Moved in later", "ada")
        other.snapshots.restore(path=archive, user_id="ada")
        kinds = [(e.kind, e.actor) for e in other.history(item.id, "ada")]
        assert kinds == [("created", None), ("updated", "cli"), ("restored", "restore")]
        assert other.history(moved.id, "ada")[-1].kind == "forgotten"
        assert other.history(moved.id, "ada")[-1].actor == "restore"


def test_the_history_of_a_memory_being_committed_waits_for_that_commit() -> None:
    """A commit stores the memory, then its history; a reader that lists the memory in
    between must not be told it has no history (seen as a flaky NotFound under threads)."""
    memory = MemoryManager(MemoryStore(), HashEmbedder(dimension=64))
    stored, release = threading.Event(), threading.Event()
    record = memory._changes.written_calls

    def slow_record(calls):
        stored.set()
        release.wait(10)
        record(calls)

    memory._changes.written_calls = slow_record
    writer = threading.Thread(target=memory.write_memory, args=("Ada likes tea", "ada"))
    writer.start()
    try:
        assert stored.wait(10)
        [item] = memory.list("ada")  # stored; its history not yet recorded
        threading.Timer(0.2, release.set).start()
        assert [e.kind for e in memory.history(item.id, "ada")] == ["created"]
    finally:
        release.set()
        writer.join(10)
    with pytest.raises(NotFound):
        memory.history("0" * 32, "ada")
