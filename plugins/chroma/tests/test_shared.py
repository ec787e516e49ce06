"""Several API processes over one Chroma server: each keeps its own core keyword index,
which pulls the others' writes (``KEYWORD_SYNC_INTERVAL_S``) and never returns a memory
deleted through another."""

from __future__ import annotations

import string
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from llm_memory import MemoryManager
from llm_memory.errors import NotFound
from llm_memory.storage import MemoryFilter
from llm_memory_testing.servers import free_port, run_server

pytestmark = pytest.mark.server

BIN = Path(sys.executable).parent
EVERY = 1.0  # KEYWORD_SYNC_INTERVAL_S of every process here


def word(n: int) -> str:
    """A made-up word per memory (letters only, so it stays one term): ``zq`` + base 26."""
    letters = ""
    n += 26 * 26
    while n:
        n, r = divmod(n, 26)
        letters = string.ascii_lowercase[r] + letters
    return "zq" + letters


def _settings(chroma, collection: str, here: Path) -> dict[str, object]:
    # Each process has its own VECTOR_STORE_DIR: nothing is shared but the Chroma server.
    return {
        "storage_backend": "chroma",
        "chroma": {"host": chroma.host, "port": chroma.port},
        "collection": collection,
        "vector_store_dir": str(here),
        "keyword_sync_interval_s": EVERY,
    }


def _env(chroma, collection: str, here: Path) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "chroma",
        "CHROMA_HOST": chroma.host,
        "CHROMA_PORT": str(chroma.port),
        "COLLECTION": collection,
        "VECTOR_STORE_DIR": str(here),
        "KEYWORD_SYNC_INTERVAL_S": str(EVERY),
    }


@pytest.fixture
def two_managers(chroma_http, tmp_path) -> Iterator[tuple[MemoryManager, MemoryManager]]:
    collection = f"shared-{uuid.uuid4().hex[:8]}"
    a = MemoryManager.from_settings(**_settings(chroma_http, collection, tmp_path / "a"))
    b = MemoryManager.from_settings(**_settings(chroma_http, collection, tmp_path / "b"))
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def keyword_found(manager: MemoryManager, user: str, text: str) -> list[str]:
    """The ids a keyword match found for ``text`` (whatever the vector side found)."""
    hits = manager.retrieve(text, user, limit=10, min_relevance=0)
    return [h.memory.id for h in hits if "keyword" in h.sources]


def test_a_write_through_one_is_found_by_keyword_through_the_other_after_the_interval(
    two_managers,
) -> None:
    a, b = two_managers
    assert b.keyword_index.follows and b.keyword_index.every == EVERY
    written = a.write_memory("Ada's kayak is called zqbluefin", "ada")
    time.sleep(EVERY)  # the documented bound: a search this long after the write finds it
    assert keyword_found(b, "ada", "zqbluefin") == [written.id]
    assert b.keyword_index.ids("ada") == {written.id}
    # A conversation ingested elsewhere keeps its context here: a turn is found by its
    # neighbour's words, as in the writing process.
    turns = a.ingest_conversation(
        [
            {"role": "user", "content": "Where should we go for the zqholiday this year?"},
            {"role": "assistant", "content": "Somewhere warm with a beach, maybe Lisbon."},
        ],
        "ada",
    )
    time.sleep(EVERY)
    assert turns[1].id in keyword_found(b, "ada", "zqholiday")
    assert keyword_found(b, "ada", "zqholiday") == keyword_found(a, "ada", "zqholiday")


def test_an_update_through_one_is_searched_by_its_new_words_through_the_other(
    two_managers,
) -> None:
    a, b = two_managers
    written = a.write_memory("Ada's boat is called zqoldname", "ada")
    time.sleep(EVERY)
    assert keyword_found(b, "ada", "zqoldname") == [written.id]
    a.update_memory(written.id, "ada", content="Ada's boat is called zqnewname")
    time.sleep(EVERY)
    assert keyword_found(b, "ada", "zqnewname") == [written.id]
    assert keyword_found(b, "ada", "zqoldname") == []


def test_the_same_memory_written_through_both_is_one_memory_with_one_creation(
    two_managers,
) -> None:
    """The duplicate check asks the store: b's index may not hold a's write yet."""
    a, b = two_managers
    first = a.write_memory("Ada is allergic to zqpeanuts", "ada", importance=0.4)
    again = b.write_memory("Ada is allergic to zqpeanuts", "ada", importance=0.9)
    assert again.id == first.id
    assert again.created_at == first.created_at
    assert [m.id for m in b.list("ada")] == [first.id]
    assert [e.kind for e in b.history(first.id, "ada")] == ["created", "refreshed"]


def test_a_delete_through_one_is_never_returned_by_the_other(two_managers) -> None:
    a, b = two_managers
    kept = a.write_memory("Ada's zqgadget is a red bicycle", "ada")
    gone = a.write_memory("Ada's zqgadget is a blue scooter", "ada")
    time.sleep(EVERY)
    assert set(keyword_found(b, "ada", "zqgadget")) == {kept.id, gone.id}
    a.forget(gone.id, "ada")
    # At once, before any pull: the hit is checked against the store, and its stale row
    # in b's index is dropped when met.
    hits = b.retrieve("zqgadget", "ada", limit=10, min_relevance=0)
    assert gone.id not in {h.memory.id for h in hits}
    assert kept.id in {h.memory.id for h in hits}
    assert b.keyword_index.ids("ada") == {kept.id}
    with pytest.raises(NotFound):
        b.get(gone.id, "ada")


def test_stats_name_the_freshness_bound(two_managers) -> None:
    _, b = two_managers
    stats = b.stats()
    assert "shared store" in stats["keyword_index"]
    assert f"within {EVERY:g} s" in stats["keyword_index"]
    assert stats["keyword_freshness"]["lag_bound_s"] == EVERY
    from llm_memory.settings_report import keyword_side

    assert keyword_side(b.settings) == stats["keyword_index"]  # what `config` shows


def test_two_servers_keyword_find_every_concurrent_write(chroma_http, tmp_path) -> None:
    collection = f"servers-{uuid.uuid4().hex[:8]}"
    a_port, b_port = free_port(), free_port()
    serve = [str(BIN / "llm-memory"), "serve", "--port"]
    each, users = 24, ("ada", "bob")
    with (
        run_server(
            [*serve, str(a_port)], a_port, "/healthz",
            env=_env(chroma_http, collection, tmp_path / "a"),
        ) as a,
        run_server(
            [*serve, str(b_port)], b_port, "/healthz",
            env=_env(chroma_http, collection, tmp_path / "b"),
        ) as b,
        httpx.Client(base_url=a.url, timeout=60) as via_a,
        httpx.Client(base_url=b.url, timeout=60) as via_b,
    ):  # fmt: skip
        clients = {"a": via_a, "b": via_b}
        written: dict[str, tuple[str, str]] = {}  # id: (user, word)
        errors: list[str] = []
        lock = threading.Lock()

        def writer(name: str, user: str, offset: int) -> None:
            for n in range(offset, offset + each):
                w = word(n)
                got = clients[name].post(
                    "/memories", json={"user_id": user, "content": f"{user} noted {w} today"}
                )
                with lock:
                    if got.status_code != 201:
                        errors.append(got.text)
                    else:
                        written[got.json()["id"]] = (user, w)

        threads = [
            threading.Thread(target=writer, args=(name, user, 100 * i))
            for i, (name, user) in enumerate((n, u) for n in clients for u in users)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(written) == 4 * each
        time.sleep(EVERY)  # every write was acknowledged at least this long ago

        for name, client in clients.items():
            for memory_id, (user, w) in written.items():
                hits = client.post(
                    "/memories/search",
                    json={"user_id": user, "query": w, "limit": 5, "min_relevance": 0},
                ).json()
                by_keyword = [h["memory"]["id"] for h in hits if "keyword" in h["sources"]]
                assert by_keyword == [memory_id], (name, w)
            for user in users:
                listed = client.get(f"/users/{user}/memories", params={"limit": 1000}).json()
                ids = [m["id"] for m in listed]
                assert len(ids) == len(set(ids)) == 2 * each  # nothing lost, no duplicates
                assert set(ids) == {i for i, (u, _) in written.items() if u == user}
            stats = client.get("/stats").json()
            assert {u: stats["users"][u]["total"] for u in users} == dict.fromkeys(users, 2 * each)
            assert "shared store" in stats["keyword_index"]

        # Deletes through a are never returned by b, not even once.
        doomed = [i for i, (u, _) in written.items() if u == "ada"][:6]
        for memory_id in doomed:
            assert via_a.delete(f"/users/ada/memories/{memory_id}").status_code == 204
        for memory_id in doomed:
            w = written[memory_id][1]
            hits = via_b.post(
                "/memories/search",
                json={"user_id": "ada", "query": f"ada noted {w}", "limit": 50, "min_relevance": 0},
            ).json()
            assert memory_id not in {h["memory"]["id"] for h in hits}
            assert via_b.get(f"/users/ada/memories/{memory_id}").status_code == 404


def test_the_pull_reads_only_what_changed(two_managers) -> None:
    """One small query per interval: records written before the last pull are not read again
    (beyond the overlap), whatever the collection holds."""
    a, b = two_managers
    a.write_memories({"content": f"old note {word(n)}", "user_id": "ada"} for n in range(30))
    store = b.store
    assert len(store.written_since(_ago(3600))) == 30
    assert store.written_since(_ago(-60)) == []  # nothing stamped in the future
    new = a.write_memory("a fresh zqlatest note", "ada")
    since = new.updated_at
    assert [m.id for m in store.written_since(since)] == [new.id]
    assert len(b.store.list(MemoryFilter("ada"), limit=100)) == 31


def _ago(seconds: float):
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(seconds=seconds)
