"""The HTTP API on a real uvicorn server (loopback, free port), through a real HTTP client."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from llm_memory.agent import build_agent
from llm_memory.api import create_app
from llm_memory.chat import ChatService
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ConfigError
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing.servers import serve_app as running
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel

ADMIN, ALICE, BOB = "admin-key-0001", "alice-key-0001", "bob-key-00001"
KEYS = {ADMIN: "admin", ALICE: ["alice"], BOB: "bob"}


def make_manager(**settings) -> MemoryManager:
    return MemoryManager(
        MemoryStore(), HashEmbedder(dimension=256), settings=load_settings(**settings)
    )


def client(base: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30)


def chat_model() -> FunctionModel:
    def respond(messages, info):
        if len(messages) == 1 or not any(getattr(p, "tool_name", None) for p in messages[-1].parts):
            return ModelResponse(
                parts=[
                    ToolCallPart(
                        "update_memory",
                        {"content": "The user likes green tea.", "type": "preference"},
                    )
                ]
            )
        return ModelResponse(parts=[TextPart("Noted.")])

    return FunctionModel(respond)


@pytest.fixture
def manager() -> MemoryManager:
    return make_manager(api_keys=KEYS, api_rate_limit=1000, api_rate_burst=1000)


@pytest.fixture
def base(manager) -> Iterator[str]:
    with running(create_app(manager, agent=build_agent(chat_model()))) as url:
        yield url


def test_user_bound_key_cannot_touch_another_users_memories(base, manager):
    bobs = manager.write_memory("Bob's locker code is in the blue folder.", "bob")
    with client(base, ALICE) as alice:
        for method, path, body in [
            ("GET", "/users/bob/memories", None),
            ("GET", f"/users/bob/memories/{bobs.id}", None),
            ("DELETE", f"/users/bob/memories/{bobs.id}", None),
            ("DELETE", "/users/bob/memories", None),
            ("POST", "/memories/search", {"user_id": "bob", "query": "locker"}),
            ("POST", "/memories", {"user_id": "bob", "content": "Bob likes tea."}),
            ("POST", "/chat", {"user_id": "bob", "user_input": "I like tea"}),
        ]:
            response = alice.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert "may not access the memories of user 'bob'" in response.json()["detail"]
        own = alice.post("/memories", json={"user_id": "alice", "content": "Alice likes tea."})
        assert own.status_code == 201
        assert [m["content"] for m in alice.get("/users/alice/memories").json()] == [
            "Alice likes tea."
        ]
        assert alice.get("/stats").status_code == 403
    assert [m.content for m in manager.list("bob")] == [bobs.content]
    assert manager.list("alice")[0].content == "Alice likes tea."
    with client(base, BOB) as bob:
        assert bob.get(f"/users/bob/memories/{bobs.id}").json()["content"] == bobs.content


def test_missing_or_wrong_key_is_401(base):
    with client(base) as anonymous:
        response = anonymous.get("/users/alice/memories")
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert (
            anonymous.get(
                "/users/alice/memories", headers={"X-API-Key": "wrong-key-000"}
            ).status_code
            == 401
        )
        assert (
            anonymous.get("/users/alice/memories", headers={"X-API-Key": ALICE}).status_code == 200
        )
        assert anonymous.get("/healthz").json() == {"status": "ok"}


def test_memory_endpoints(base, manager):
    with client(base, ADMIN) as admin:
        created = admin.post(
            "/memories",
            json={
                "user_id": "ada",
                "content": "Ada lives in Oslo.",
                "type": "fact",
                "importance": 0.8,
            },
        )
        assert created.status_code == 201
        memory = created.json()
        assert (memory["type"], memory["importance"]) == ("fact", 0.8)
        admin.post(
            "/memories",
            json={"user_id": "ada", "content": "Ada likes green tea.", "type": "preference"},
        )
        found = admin.post(
            "/memories/search", json={"user_id": "ada", "query": "where does Ada live?", "limit": 1}
        ).json()
        assert [f["memory"]["content"] for f in found] == ["Ada lives in Oslo."] and 0 < found[0][
            "score"
        ] <= 1
        listed = admin.get("/users/ada/memories", params={"type": "preference"}).json()
        assert [m["content"] for m in listed] == ["Ada likes green tea."]
        assert (
            admin.get(f"/users/ada/memories/{memory['id']}").json()["content"]
            == "Ada lives in Oslo."
        )
        assert admin.get(f"/users/someone-else/memories/{memory['id']}").status_code == 404
        assert admin.delete(f"/users/ada/memories/{memory['id']}").status_code == 204
        assert admin.delete(f"/users/ada/memories/{memory['id']}").status_code == 404
        assert admin.delete("/users/ada/memories").json() == {"deleted": 1}
    assert manager.store.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "ada", "content": "x", "importance": 2}, "body.importance"),
        ({"user_id": "ada", "content": "x", "type": "gossip"}, "body.type"),
        ({"content": "x"}, "body.user_id"),
        ({"user_id": "ada", "content": "   "}, "body.content"),
        ({"user_id": "ada", "content": "x", "vector": [1, 2]}, "body.vector"),
        ({"user_id": "ada", "content": "x", "metadata": {"_internal": 1}}, "metadata"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field_and_write_nothing(base, manager, body, field):
    with client(base, ADMIN) as admin:
        response = admin.post("/memories", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert field in payload.get("message", payload["detail"])
    assert manager.store.count() == 0


def test_invalid_chat_and_search_bodies_are_422(base, manager):
    with client(base, ADMIN) as admin:
        chat = admin.post("/chat", json={"user_id": "ada", "user_input": ""})
        search = admin.post("/memories/search", json={"user_id": "ada", "query": "tea", "limit": 0})
        listing = admin.get("/users/ada/memories", params={"limit": 5000})
    assert chat.status_code == 422 and "body.user_input" in chat.json()["message"]
    assert search.status_code == 422 and "body.limit" in search.json()["message"]
    assert listing.status_code == 422 and "query.limit" in listing.json()["message"]
    assert manager.store.count() == 0


def test_chat_over_http_persists_after_the_run(base, manager):
    with client(base, ALICE) as alice:
        response = alice.post(
            "/chat", json={"user_id": "alice", "user_input": "I like green tea", "session_id": "s1"}
        )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["response"] == "Noted." and reply["session_id"] == "s1"
    assert [m["content"] for m in reply["created"]] == ["The user likes green tea."]
    assert reply["retrieved"] == []
    assert (reply["memories_created"], reply["memories_retrieved"]) == (1, 0)  # the seed's counts
    assert "The user likes green tea." in [m.content for m in manager.list("alice")]


def test_chat_without_a_model_is_503_saying_what_to_set():
    with running(create_app(make_manager())) as url, client(url) as local:
        response = local.post("/chat", json={"user_id": "ada", "user_input": "hi"})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "set AGENT_MODEL" in detail and "AGENT_BASE_URL" in detail
    assert "AGENT_MODEL=demo" in detail and "\n" not in detail


def test_chat_with_the_demo_model_over_http_stores_then_retrieves(tmp_path):
    manager = make_manager(agent_model="demo")
    with running(create_app(manager)) as url, client(url) as local:
        first = local.post("/chat", json={"user_id": "ada", "user_input": "I like green tea."})
        second = local.post(
            "/chat",
            json={"user_id": "ada", "user_input": "Which tea do I like?", "session_id": "s2"},
        )
        schema = local.get("/openapi.json").json()["components"]["schemas"]["ChatResponse"]
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    one, two = first.json(), second.json()
    assert one["response"].startswith("[offline demo model]")
    assert [m["content"] for m in one["created"]] == ["The user likes green tea."]
    assert (one["memories_created"], one["memories_retrieved"]) == (1, 0)
    assert "The user likes green tea." in two["response"]
    assert "The user likes green tea." in [r["memory"]["content"] for r in two["retrieved"]]
    for reply in (one, two):
        assert type(reply["memories_created"]) is int and type(reply["memories_retrieved"]) is int
        assert reply["memories_created"] == len(reply["created"])
        assert reply["memories_retrieved"] == len(reply["retrieved"])
        assert reply["memories_forgotten"] == len(reply["forgotten"]) == 0
    props = schema["properties"]
    assert props["memories_created"]["type"] == props["memories_retrieved"]["type"] == "integer"
    assert props["created"]["type"] == props["retrieved"]["type"] == "array"
    assert {"response", "memories_created", "memories_retrieved"} <= set(schema["required"])


def test_agent_model_test_is_refused_in_one_line(tmp_path):
    with pytest.raises(
        ConfigError, match=r"^AGENT_MODEL=test is PydanticAI's TestModel.*AGENT_MODEL=demo"
    ):
        ChatService(make_manager(agent_model="test"))


def test_rate_limit_is_per_key_with_retry_after():
    manager = make_manager(api_keys=KEYS, api_rate_limit=0.5, api_rate_burst=2)
    with running(create_app(manager)) as url, client(url, ALICE) as alice, client(url, BOB) as bob:
        statuses = [alice.get("/users/alice/memories").status_code for _ in range(3)]
        limited = alice.get("/users/alice/memories")
        assert statuses == [200, 200, 429] and limited.status_code == 429
        assert limited.headers["retry-after"] == "2"
        assert "Rate limit exceeded" in limited.json()["detail"]
        assert bob.get("/users/bob/memories").status_code == 200


def test_stats_expose_counts_latency_and_embedding_tokens(base, manager):
    with client(base, ADMIN) as admin:
        admin.post("/memories", json={"user_id": "ada", "content": "Ada likes green tea."})
        admin.post("/memories/search", json={"user_id": "ada", "query": "tea"})
        admin.post("/chat", json={"user_id": "ada", "user_input": "I like green tea"})
        stats = admin.get("/stats").json()
    assert stats["users"]["ada"]["total"] >= 3 and stats["total"] == stats["users"]["ada"]["total"]
    assert set(stats["latency"]) == {"retrieve", "chat"}
    assert stats["latency"]["retrieve"]["count"] == 2
    assert 0 < stats["latency"]["chat"]["p50_ms"] <= stats["latency"]["chat"]["p99_ms"]
    assert isinstance(stats["embedding_tokens"], int) and stats["embedding_usage"]["texts"] > 0


def test_request_ids_are_echoed_and_logged(base, caplog):
    caplog.set_level(logging.INFO, logger="llm_memory.api")
    with client(base, ADMIN) as admin:
        given = admin.get("/users/ada/memories", headers={"X-Request-ID": "trace-42"})
        fresh = admin.get("/users/ada/memories", headers={"X-Request-ID": "bad id <script>"})
    assert given.headers["x-request-id"] == "trace-42"
    assert (
        len(fresh.headers["x-request-id"]) == 32 and "script" not in fresh.headers["x-request-id"]
    )
    records = [r for r in caplog.records if getattr(r, "event", None) == "request"]
    traced = next(r for r in records if r.request_id == "trace-42")
    assert (traced.method, traced.path, traced.status) == ("GET", "/users/ada/memories", 200)
    assert traced.principal.endswith(":admin") and ADMIN not in traced.principal


def test_without_keys_only_loopback_clients_are_served():
    app = create_app(make_manager())
    with TestClient(app, client=("10.1.2.3", 5555)) as remote:
        response = remote.get("/users/ada/memories")
        assert response.status_code == 403 and "set API_KEYS" in response.json()["detail"]
    with TestClient(app, client=("127.0.0.1", 5555)) as local:
        assert local.get("/users/ada/memories").status_code == 200


def test_snapshots_create_list_restore(base, manager):
    manager.write_memory("Alice likes tea.", "alice")
    manager.write_memory("Bob likes coffee.", "bob")
    with client(base, ADMIN) as admin, client(base, ALICE) as alice:
        everyone = admin.post("/snapshots")
        assert everyone.status_code == 201
        assert alice.post("/snapshots").status_code == 403
        own = alice.post("/snapshots", json={"user_id": "alice"})
        assert own.status_code == 201
        assert [s["id"] for s in alice.get("/snapshots").json()] == [own.json()["id"]]
        assert {s["id"] for s in admin.get("/snapshots").json()} == {
            own.json()["id"],
            everyone.json()["id"],
        }
        manager.forget_user("alice")
        manager.forget_user("bob")
        assert alice.post(f"/snapshots/{everyone.json()['id']}/restore").status_code == 403
        restored = alice.post(
            f"/snapshots/{everyone.json()['id']}/restore", json={"user_id": "alice"}
        )
        assert restored.status_code == 200 and restored.json()["restored"] == 1
        assert manager.list("bob") == []
        assert admin.post(f"/snapshots/{everyone.json()['id']}/restore").json()["restored"] == 2
        assert admin.post("/snapshots/20990101T000000000Z-abcdef/restore").status_code == 404
    assert [m.content for m in manager.list("bob")] == ["Bob likes coffee."]


def test_openapi_docs(base):
    with client(base) as anonymous:
        spec = anonymous.get("/openapi.json").json()
        assert anonymous.get("/docs").status_code == 200
    assert {
        "/chat",
        "/memories",
        "/memories/search",
        "/users/{user_id}/memories",
        "/stats",
        "/healthz",
    } <= set(spec["paths"])


def test_uvicorn_import_path_builds_the_app_from_settings(monkeypatch, tmp_path):
    import llm_memory.api as api
    from fastapi import FastAPI

    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path))
    monkeypatch.setattr(api, "_app", None)
    app = uvicorn.importer.import_from_string("llm_memory.api:app")
    assert isinstance(app, FastAPI)
    assert app.state.llm_memory.manager.store.name == "memory" and app.state.llm_memory.owns_manager
    with TestClient(app, client=("127.0.0.1", 5555)) as local:
        assert local.get("/healthz").status_code == 200


def test_search_drops_memories_below_min_relevance(base, manager):
    manager.write_memory("Alice keeps three bees in the garden", "alice")
    manager.write_memory("Alice once visited Lisbon", "alice")
    with client(base, ALICE) as http:
        everything = http.post(
            "/memories/search", json={"user_id": "alice", "query": "bees", "min_relevance": 0.0}
        ).json()
        best = http.post(
            "/memories/search", json={"user_id": "alice", "query": "bees", "min_relevance": 1.0}
        ).json()
        refused = http.post(
            "/memories/search", json={"user_id": "alice", "query": "bees", "min_relevance": 2}
        )
    assert len(everything) == 2
    assert [m["memory"]["content"] for m in best] == ["Alice keeps three bees in the garden"]
    assert refused.status_code == 422


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_server_itself(base, page):
    import re

    with client(base) as http:
        html = http.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assert not re.search(r"https?://", html.text), "an asset from elsewhere: blank offline"
        urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"|url: \'([^\']+)\'', html.text)
        urls = [a or b for a, b in urls]
        assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls
        for url in urls:
            assert url.startswith("/"), url
            answer = http.get(url)
            assert answer.status_code == 200, url
            assert len(answer.content) > 100, url
        if page == "/docs":
            assert "validatorUrl" in html.text  # no badge image from validator.swagger.io
            bundle = http.get("/docs-assets/swagger-ui-bundle.js").text
            assert "SwaggerUIBundle" in bundle
