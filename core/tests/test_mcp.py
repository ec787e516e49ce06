"""`llm-memory mcp` over stdio and `/mcp` in a live `serve`, driven by the MCP SDK's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from llm_memory.manager import MemoryManager
from llm_memory_testing.servers import free_port, run_server
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

LLM_MEMORY = str(Path(sys.executable).parent / "llm-memory")
TOOLS = {
    "add_memory",
    "search_memories",
    "get_memory",
    "update_memory",
    "memory_history",
    "delete_memory",
    "delete_all_memories",
}
UPDATES = pytest.mark.skipif(
    not hasattr(MemoryManager, "update_memory"),
    reason="MemoryManager.update_memory/history (issue #16, branch issue-16) are not on main yet",
)
KEYS = {"ada-key-123": ["ada"], "bob-key-123": ["bob"], "admin-key-1": "admin"}


def store_env(tmp_path: Path) -> dict[str, str]:
    return {"STORAGE_BACKEND": "memory", "VECTOR_STORE_DIR": str(tmp_path / "store")}


def stdio(tmp_path: Path, user: str) -> Client:
    params = StdioServerParameters(
        command=LLM_MEMORY, args=["mcp", "--user", user], env=store_env(tmp_path)
    )
    return Client(params)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        return Refused(" ".join(c.text for c in result.content if hasattr(c, "text")))
    return result.structured_content


class Refused(str):
    """A tool call that answered with an error (its text)."""


def test_stdio_lists_the_tools_and_calls_each(tmp_path):
    async def main() -> None:
        async with stdio(tmp_path, "ada") as ada:
            tools = {t.name: t for t in (await ada.list_tools()).tools}
            assert set(tools) == TOOLS
            assert all(len(t.description or "") <= 60 and t.output_schema for t in tools.values())
            assert "user_id" not in json.dumps([t.input_schema for t in tools.values()])

            tea = await call(ada, "add_memory", content="Ada drinks green tea.", type="preference")
            assert (tea["user_id"], tea["type"], tea["metadata"]) == (
                "ada",
                "preference",
                {"source": "mcp"},
            )
            await call(ada, "add_memory", content="Ada lives in Oslo.", type="fact", importance=0.9)
            found = (await call(ada, "search_memories", query="green tea", limit=5))["memories"]
            assert found[0]["memory"]["id"] == tea["id"]
            assert {"score", "relevance", "importance", "recency", "sources"} <= set(found[0])
            only_facts = await call(ada, "search_memories", query="Ada", types=["fact"])
            assert [m["memory"]["type"] for m in only_facts["memories"]] == ["fact"]
            assert (await call(ada, "get_memory", memory_id=tea["id"]))["content"] == tea["content"]

            assert await call(ada, "delete_memory", memory_id=tea["id"]) == {"deleted": 1}
            assert isinstance(await call(ada, "get_memory", memory_id=tea["id"]), Refused)
            refused = await call(ada, "delete_all_memories", confirm=False)
            assert isinstance(refused, Refused) and "confirm=true" in refused
            assert await call(ada, "delete_all_memories", confirm=True) == {"deleted": 1}

    anyio.run(main)


@UPDATES
def test_stdio_update_and_history(tmp_path):
    async def main() -> None:
        async with stdio(tmp_path, "ada") as ada:
            tea = await call(ada, "add_memory", content="Ada drinks green tea.")
            updated = await call(
                ada, "update_memory", memory_id=tea["id"], content="Ada drinks black tea."
            )
            assert (updated["id"], updated["content"]) == (tea["id"], "Ada drinks black tea.")
            found = await call(ada, "search_memories", query="black tea")
            assert found["memories"][0]["memory"]["id"] == tea["id"]
            events = (await call(ada, "memory_history", memory_id=tea["id"]))["events"]
            assert [e["kind"] for e in events] == ["created", "updated"]
            assert events[1]["old"]["content"] == "Ada drinks green tea."
            assert events[1]["actor"] == "mcp"

    anyio.run(main)


def test_stdio_writes_pass_the_agents_checks(tmp_path):
    async def main() -> None:
        async with stdio(tmp_path, "ada") as ada:
            secret = await call(ada, "add_memory", content="My bank PIN is 4711.")
            assert isinstance(secret, Refused) and "secret" in secret
            key = await call(ada, "add_memory", content="key sk-abcdefghijklmnopqrstuvwx")
            assert isinstance(key, Refused)
            episodic = await call(ada, "add_memory", content="Hello", type="episodic")
            assert isinstance(episodic, Refused)
            blank = await call(ada, "add_memory", content="   ")
            assert isinstance(blank, Refused)
            bad_meta = await call(ada, "add_memory", content="Ada reads.", metadata={"_x": 1})
            assert isinstance(bad_meta, Refused) and "metadata" in bad_meta
            kept = await call(ada, "add_memory", content="Ada reads novels.")
            leak = await call(ada, "update_memory", memory_id=kept["id"], content="PIN: 1234")
            assert isinstance(leak, Refused) and "secret" in leak  # refused before the call
            assert (await call(ada, "get_memory", memory_id=kept["id"]))["content"] == (
                "Ada reads novels."
            )
            assert await call(ada, "delete_all_memories", confirm=True) == {"deleted": 1}

    anyio.run(main)


ADVERSARIAL_IDS = ["*", "%", "' OR '1'='1", "../ada", "ada/{id}", "{id} ", " {id}", "{ID}"]


async def assert_isolated(mallory: Client, victim_id: str) -> None:
    """Nothing a connection sends reaches a memory of another user."""
    for template in [victim_id, *ADVERSARIAL_IDS]:
        memory_id = template.replace("{id}", victim_id).replace("{ID}", victim_id.upper())
        for tool in ("get_memory", "delete_memory", "memory_history"):
            assert isinstance(await call(mallory, tool, memory_id=memory_id), Refused)
        changed = await call(mallory, "update_memory", memory_id=memory_id, content="Hacked.")
        assert isinstance(changed, Refused)
    try:  # a user_id argument is not part of the schema: refused, or ignored
        sneaky = await mallory.call_tool("get_memory", {"memory_id": victim_id, "user_id": "ada"})
        assert sneaky.is_error or victim_id not in json.dumps(sneaky.structured_content)
    except MCPError as exc:
        assert "user_id" in str(exc.data) or exc.code < 0
    found = await call(mallory, "search_memories", query="green tea")
    assert found == {"memories": []}
    assert await call(mallory, "delete_all_memories", confirm=True) == {"deleted": 0}


def test_stdio_one_user_cannot_read_or_delete_anothers_memories(tmp_path):
    async def main() -> None:
        async with stdio(tmp_path, "ada") as ada, stdio(tmp_path, "bob") as bob:
            tea = await call(ada, "add_memory", content="Ada drinks green tea.")
            await assert_isolated(bob, tea["id"])
            assert (await call(ada, "get_memory", memory_id=tea["id"]))["content"] == tea["content"]

    anyio.run(main)


# -- streamable HTTP in `serve` --------------------------------------------------------------
@asynccontextmanager
async def http_mcp(url: str, **headers: str) -> AsyncIterator[Client]:
    import httpx2

    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def serve(tmp_path: Path, **env: str):
    port = free_port()
    env = {**store_env(tmp_path), "API_KEYS": json.dumps(KEYS), **env}
    return run_server([LLM_MEMORY, "serve", "--port", str(port)], port, "/healthz", env=env)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.server
def test_http_mcp_scopes_each_connection_to_its_keys_user(tmp_path):
    with serve(tmp_path, API_RATE_LIMIT="0") as server:

        async def main() -> None:
            async with http_mcp(server.url, **bearer("ada-key-123")) as ada:
                assert {t.name for t in (await ada.list_tools()).tools} == TOOLS
                tea = await call(ada, "add_memory", content="Ada drinks green tea.")
                assert tea["user_id"] == "ada"
                found = await call(ada, "search_memories", query="tea", min_relevance=0.5)
                assert [m["memory"]["id"] for m in found["memories"]] == [tea["id"]]
            async with http_mcp(server.url, **bearer("bob-key-123")) as bob:
                await assert_isolated(bob, tea["id"])
            admin = {**bearer("admin-key-1"), "X-LLM-Memory-User": "bob"}
            async with http_mcp(server.url, **admin) as as_bob:
                assert isinstance(await call(as_bob, "get_memory", memory_id=tea["id"]), Refused)
            admin["X-LLM-Memory-User"] = "ada"
            async with http_mcp(server.url, **admin) as as_ada:
                got = await call(as_ada, "get_memory", memory_id=tea["id"])
                assert got["content"] == tea["content"]

        anyio.run(main)
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answers = {
                "no key": http.post("/mcp", json=initialize),
                "admin without user": http.post(
                    "/mcp", json=initialize, headers=bearer("admin-key-1")
                ),
                "other user": http.post(
                    "/mcp",
                    json=initialize,
                    headers={**bearer("bob-key-123"), "X-LLM-Memory-User": "ada"},
                ),
            }
        statuses = {name: r.status_code for name, r in answers.items()}
        assert statuses == {"no key": 401, "admin without user": 400, "other user": 403}
        assert "X-LLM-Memory-User" in answers["admin without user"].json()["detail"]


@pytest.mark.server
def test_http_mcp_shares_the_api_rate_limit(tmp_path):
    with serve(tmp_path, API_RATE_LIMIT="0.01", API_RATE_BURST="3") as server:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        with httpx.Client(base_url=server.url, timeout=30, headers=bearer("ada-key-123")) as http:
            statuses = [http.post("/mcp", json=ping).status_code for _ in range(3)]
            statuses.append(http.get("/users/ada/memories").status_code)
            limited = http.post("/mcp", json=ping)
        assert 429 not in statuses[:3] and statuses[3] == 429  # one bucket for /mcp and the API
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


@pytest.mark.server
def test_stdio_through_a_running_server_with_url(tmp_path):
    from llm_memory.client import MemoryClient

    with serve(tmp_path, API_RATE_LIMIT="0") as server:
        params = StdioServerParameters(
            command=LLM_MEMORY,
            args=["--url", server.url, "mcp", "--user", "ada"],
            env={"LLM_MEMORY_API_KEY": "ada-key-123", "STORAGE_BACKEND": "unknown"},
        )

        async def main() -> Any:
            async with Client(params) as ada:
                tea = await call(ada, "add_memory", content="Ada drinks mate.", type="preference")
                await call(ada, "update_memory", memory_id=tea["id"], importance=0.9)
                return tea, await call(ada, "memory_history", memory_id=tea["id"])

        tea, history = anyio.run(main)
        assert [e["kind"] for e in history["events"]] == ["created", "updated"]
        with MemoryClient(server.url, "ada-key-123") as memory:
            stored = memory.get(tea["id"], "ada")
        assert (stored.content, stored.importance) == ("Ada drinks mate.", 0.9)


@pytest.mark.server
def test_http_mcp_without_keys_serves_loopback_names_only(tmp_path):
    """No keys: loopback clients are admins, so a page on a hostile name that resolves to
    127.0.0.1 (DNS rebinding) must not reach the tools."""
    with serve(tmp_path, API_KEYS="{}") as server:

        async def main() -> Any:
            async with http_mcp(server.url, **{"X-LLM-Memory-User": "ada"}) as ada:
                return await call(ada, "add_memory", content="Ada drinks mate.")

        assert anyio.run(main)["user_id"] == "ada"
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Host": "attacker.example", "X-LLM-Memory-User": "ada"}
        with httpx.Client(base_url=server.url, timeout=30) as http:
            rebound = http.post("/mcp", json=ping, headers=headers)
        assert (rebound.status_code, rebound.text) == (421, "Invalid Host header")


def test_the_api_app_loads_the_mcp_sdk_only_when_mcp_is_first_asked(tmp_path):
    """Creating the app (and answering other routes) must not import ``mcp`` (most of a
    second); the first request to /mcp builds the server, and it answers."""
    code = """
import json, sys
from fastapi.testclient import TestClient
from llm_memory.api.factory import create_app
from llm_memory.settings import load_settings

app = create_app(settings=load_settings(storage_backend="memory"))
created = "mcp" in sys.modules
with TestClient(app) as http:
    health = http.get("/healthz").status_code
    before = "mcp" in sys.modules
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": "Bearer ada-key-123", "Accept": "application/json, text/event-stream"}
    answer = http.post("/mcp", json=ping, headers=headers)
    again = http.post("/mcp", json=ping, headers=headers)
print(json.dumps([created, health, before, answer.status_code, answer.json(), again.status_code,
                  "mcp" in sys.modules]))
"""
    env = {**os.environ, **store_env(tmp_path), "API_KEYS": json.dumps(KEYS)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    created, health, before, status, answer, again, loaded = json.loads(out.stdout.splitlines()[-1])
    assert created is False and before is False and health == 200
    assert (status, answer, again) == (200, {"jsonrpc": "2.0", "id": 1, "result": {}}, 200)
    assert loaded is True
