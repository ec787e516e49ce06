"""PATCH and history over HTTP, on a real server, with per-key scoping and actors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from llm_memory.api import create_app
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing.servers import serve_app as running

ADMIN, ALICE = "admin-key-0001", "alice-key-0001"
KEYS = {ADMIN: "admin", ALICE: ["alice"]}


def client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture
def manager() -> MemoryManager:
    settings = load_settings(api_keys=KEYS, api_rate_limit=1000, api_rate_burst=1000)
    return MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=settings)


@pytest.fixture
def base(manager) -> Iterator[str]:
    with running(create_app(manager)) as url:
        yield url


def test_patch_reembeds_and_history_names_the_key(base, manager):
    manager.write_memory("Paris is lovely in the spring", "alice")
    with client(base, ALICE) as alice:
        created = alice.post("/memories", json={"user_id": "alice", "content": "I live in Paris"})
        memory_id = created.json()["id"]
        patched = alice.patch(
            f"/users/alice/memories/{memory_id}", json={"content": "I live in Oslo"}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["id"] == memory_id and patched.json()["content"] == "I live in Oslo"
        hits = alice.post("/memories/search", json={"user_id": "alice", "query": "Oslo"}).json()
        assert hits[0]["memory"]["id"] == memory_id
        paris = alice.post("/memories/search", json={"user_id": "alice", "query": "Paris"})
        assert paris.json()[0]["memory"]["id"] != memory_id
        assert alice.delete(f"/users/alice/memories/{memory_id}").status_code == 204
        events = alice.get(f"/users/alice/memories/{memory_id}/history").json()
    assert [e["kind"] for e in events] == ["created", "updated", "forgotten"]
    assert {e["actor"] for e in events} == {f"api-key:{_key_id(ALICE)}"}
    assert events[1]["old"] == {"content": "I live in Paris"}
    assert ALICE not in str(events)


def test_patch_and_history_errors(base, manager):
    bobs = manager.write_memory("Bob's locker code is in the blue folder.", "bob")
    alices = manager.write_memory("Alice likes tea.", "alice")
    with client(base, ALICE) as alice:
        for method, path, body in [
            ("PATCH", f"/users/bob/memories/{bobs.id}", {"content": "mine now"}),
            ("GET", f"/users/bob/memories/{bobs.id}/history", None),
        ]:
            response = alice.request(method, path, json=body)
            assert response.status_code == 403, response.text
        # Alice's own path with Bob's id: not found, never Bob's data.
        assert alice.get(f"/users/alice/memories/{bobs.id}/history").status_code == 404
        patch = alice.patch(f"/users/alice/memories/{bobs.id}", json={"importance": 0.9})
        assert patch.status_code == 404
        path = f"/users/alice/memories/{alices.id}"
        assert alice.patch(path, json={"importance": 2}).status_code == 422
        assert alice.patch(path, json={"owner": "bob"}).status_code == 422
        empty = alice.patch(path, json={})
        assert empty.status_code == 422 and "Nothing to update" in empty.text
    with client(base, ADMIN) as admin:
        ok = admin.patch(f"/users/bob/memories/{bobs.id}", json={"type": "fact"})
        assert ok.status_code == 200 and ok.json()["type"] == "fact"
    assert manager.get(bobs.id, "bob").content == bobs.content
    assert [e.kind for e in manager.history(bobs.id, "bob")] == ["created", "updated"]


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10]
