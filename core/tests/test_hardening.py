"""Issue 11's findings, each through the layer where it was found: crafted ids, NaN and
surrogates, oversized metadata and bodies, bad snapshot ids. Nothing refused is written."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from llm_memory.api import create_app
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ValidationFailed
from llm_memory.manager import MemoryManager
from llm_memory.models import utcnow
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing.servers import serve_app as running

ADMIN, ALICE = "admin-key-0001", "alice-key-0001"

CRAFTED = ["x\\')) OR ((1=1)) --", "' OR 1=1 --", '{"$ne": null}', "../../etc", "a\x00b", "%", "*"]


def client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture
def manager() -> MemoryManager:
    settings = load_settings(
        api_keys={ADMIN: "admin", ALICE: ["alice"]},
        api_rate_limit=1000,
        api_rate_burst=1000,
        max_request_bytes=65_536,
    )
    return MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=settings)


@pytest.fixture
def base(manager):
    with running(create_app(manager)) as url:
        yield url


def _total(manager) -> int:
    return sum(len(manager.list(u)) for u in manager.users())


def test_crafted_memory_ids_are_refused_in_python_and_forget_nothing(manager):
    manager.write_memory("Alice keeps bees", "alice")
    manager.write_memory("Bob keeps goats", "bob")
    for bad in CRAFTED:
        with pytest.raises(ValidationFailed):
            manager.forget(bad, "alice")
        with pytest.raises(ValidationFailed):
            manager.get(bad, "alice")
    assert _total(manager) == 2


@pytest.mark.parametrize("user", ["", " alice", "a\x00b", "a\u200db", "x" * 129])
def test_user_ids_out_of_shape_are_refused(manager, user):
    with pytest.raises(ValidationFailed):
        manager.write_memory("something", user)
    assert _total(manager) == 0


def test_lookalike_users_stay_distinct(manager):
    for user in ("alice", "Alice", "\uff41\uff4c\uff49\uff43\uff45"):
        manager.write_memory(f"{user} owns a red kite", user)
    assert sorted(manager.users()) == sorted(["alice", "Alice", "\uff41\uff4c\uff49\uff43\uff45"])
    assert [m.content for m in manager.list("Alice")] == ["Alice owns a red kite"]


def test_metadata_limits_and_future_times_are_refused(manager):
    with pytest.raises(ValidationFailed, match="metadata"):
        manager.write_memory("big", "alice", metadata={"blob": "x" * 20_000})
    with pytest.raises(ValidationFailed, match="metadata"):
        manager.write_memory("many", "alice", metadata={f"k{n}": n for n in range(65)})
    with pytest.raises(ValidationFailed):
        manager.write_memory("nan", "alice", metadata={"score": float("nan")})
    with pytest.raises(ValidationFailed, match="future"):
        manager.write_memory("later", "alice", created_at=utcnow() + timedelta(days=2))
    with pytest.raises(ValidationFailed, match="types"):
        manager.retrieve("anything", "alice", types=[])
    assert _total(manager) == 0


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_422_naming_the_field(base, manager, value):
    body = f'{{"content": "tea", "user_id": "alice", "importance": {value}}}'
    with client(base, ADMIN) as http:
        reply = http.post("/memories", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert "importance" in reply.text
    assert _total(manager) == 0


def test_a_lone_surrogate_is_422(base, manager):
    body = '{"content": "tea \\ud800", "user_id": "alice"}'
    with client(base, ADMIN) as http:
        reply = http.post("/memories", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert _total(manager) == 0


def test_an_oversized_body_is_413_and_writes_nothing(base, manager):
    body = json.dumps({"content": "tea", "user_id": "alice", "metadata": {"a": "x" * 100_000}})
    with client(base, ADMIN) as http:
        reply = http.post("/memories", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 413, reply.text
    assert _total(manager) == 0


def test_crafted_ids_over_http_are_4xx_and_delete_nothing(base, manager):
    manager.write_memory("Alice keeps bees", "alice")
    manager.write_memory("Bob keeps goats", "bob")
    with client(base, ALICE) as http:
        for bad in ["x%5C%27%29%29%20OR%20%28%281%3D1%29%29%20--", "%27%20OR%201%3D1%20--"]:
            reply = http.delete(f"/users/alice/memories/{bad}")
            assert 400 <= reply.status_code < 500, reply.text
    with client(base, ADMIN) as http:
        reply = http.delete("/users/x%5C%27%29%20OR%20%281%3D1%29%20--/memories")
        assert reply.status_code < 500, reply.text
    assert _total(manager) == 2


@pytest.mark.parametrize("snapshot_id", [".journal", "%2e%2e", "x" * 200])
def test_invalid_snapshot_ids_are_422(base, snapshot_id):
    with client(base, ADMIN) as http:
        reply = http.post(f"/snapshots/{snapshot_id}/restore")
    assert reply.status_code in (404, 422), reply.text


def test_an_unknown_snapshot_is_404(base):
    with client(base, ADMIN) as http:
        reply = http.post("/snapshots/20990101T000000Z-abcdef/restore")
    assert reply.status_code == 404, reply.text


# -- NUL characters (content, queries, metadata) ------------------------------------------------
def test_nul_in_content_or_query_is_refused_in_python_and_writes_nothing(manager):
    manager.write_memory("Alice keeps bees", "alice")
    with pytest.raises(ValidationFailed, match=r"content.*NUL") as refused:
        manager.write_memory("tea\x00 with milk", "alice")
    assert "\n" not in str(refused.value)
    with pytest.raises(ValidationFailed, match=r"metadata.*NUL"):
        manager.write_memory("tea", "alice", metadata={"src": "a\x00b"})
    with pytest.raises(ValidationFailed, match=r"^query holds a NUL"):
        manager.retrieve("bees\x00", "alice")
    memory_id = manager.list("alice")[0].id
    with pytest.raises(ValidationFailed, match=r"content.*NUL"):
        manager.update_memory(memory_id, "alice", content="bees\x00 and wasps")
    with pytest.raises(ValidationFailed, match=r"content.*NUL"):
        manager.ingest_conversation([{"role": "user", "content": "hi\x00"}], "alice")
    assert [m.content for m in manager.list("alice")] == ["Alice keeps bees"]
    assert _total(manager) == 1


def test_nul_is_422_over_http_naming_the_field(base, manager):
    manager.write_memory("Alice keeps bees", "alice")
    memory_id = manager.list("alice")[0].id
    with client(base, ALICE) as http:
        created = http.post("/memories", json={"content": "tea\x00", "user_id": "alice"})
        searched = http.post("/memories/search", json={"query": "bees\x00", "user_id": "alice"})
        patched = http.patch(f"/users/alice/memories/{memory_id}", json={"content": "b\x00"})
    for reply, field in ((created, "content"), (searched, "query"), (patched, "content")):
        assert reply.status_code == 422, reply.text
        assert field in reply.json()["message"] and "NUL" in reply.json()["message"]
    assert [m.content for m in manager.list("alice")] == ["Alice keeps bees"]


def test_nul_is_refused_by_the_cli_in_one_line(monkeypatch, tmp_path):
    from click.testing import CliRunner
    from llm_memory.cli import cli

    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "store"))
    runner = CliRunner()
    for args in (["add", "tea\x00", "-u", "alice"], ["search", "tea\x00", "-u", "alice"]):
        result = runner.invoke(cli, args)
        assert result.exit_code != 0, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "NUL" in lines[0], result.output
    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps({"user_id": "alice", "content": "tea\x00"}) + "\n")
    result = runner.invoke(cli, ["import", str(dump)])
    assert result.exit_code != 0 and "NUL" in result.output, result.output
    listed = runner.invoke(cli, ["list", "-u", "alice", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output) == []


# -- memory ids in every path ---------------------------------------------------------------------
ADVERSARIAL_PATH_IDS = ["%2E%2E", "x" * 300, "a'b", "%00", "a%5Cb", "%27%20OR%201%3D1%20--"]


@pytest.mark.parametrize("bad", ADVERSARIAL_PATH_IDS)
def test_patch_and_history_validate_the_memory_id_like_the_other_endpoints(base, manager, bad):
    manager.write_memory("Alice keeps bees", "alice")
    before = manager.list("alice")
    with client(base, ALICE) as http:
        replies = {
            "get": http.get(f"/users/alice/memories/{bad}"),
            "patch": http.patch(f"/users/alice/memories/{bad}", json={"content": "changed"}),
            "history": http.get(f"/users/alice/memories/{bad}/history"),
            "delete": http.delete(f"/users/alice/memories/{bad}"),
        }
    for name, reply in replies.items():
        assert reply.status_code == 422, (name, reply.text)
        assert "memory_id" in reply.json()["message"], (name, reply.text)
        assert "letters, digits" in reply.json()["message"], (name, reply.text)
    assert manager.list("alice") == before


def test_a_slash_in_a_memory_id_reaches_no_memory_route(base, manager):
    manager.write_memory("Alice keeps bees", "alice")
    before = manager.list("alice")
    with client(base, ALICE) as http:
        for reply in (
            http.patch("/users/alice/memories/..%2Fx", json={"content": "changed"}),
            http.get("/users/alice/memories/..%2Fx/history"),
        ):
            assert 400 <= reply.status_code < 500, reply.text
    assert manager.list("alice") == before


def test_history_refuses_an_id_out_of_shape_in_python(manager):
    for bad in ("../x", "a'b", "\x00", "x" * 300):
        with pytest.raises(ValidationFailed, match="letters, digits"):
            manager.history(bad, "alice")
