"""MemoryClient and AsyncMemoryClient against a live `llm-memory serve`, and the CLI's --url."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner
from llm_memory.cli import cli
from llm_memory.client import AccessDenied, AsyncMemoryClient, MemoryClient, ServerUnavailable
from llm_memory.errors import ConfigError, NotFound, NotSupported, ValidationFailed
from llm_memory.manager import MemoryManager
from llm_memory.models import MemoryItem, ScoredMemory
from llm_memory.retry import RetryPolicy
from llm_memory_testing.openai_chat import FakeOpenAIChat, text, tool_call
from llm_memory_testing.servers import free_port, run_server

pytestmark = pytest.mark.server
LLM_MEMORY = str(Path(sys.executable).parent / "llm-memory")
KEYS = {"ada-key-123": ["ada"], "admin-key-1": "admin"}
FAST = RetryPolicy(max_retries=2, backoff=0.01, max_wait=5)


def serve(tmp_path: Path, **env: str):
    port = free_port()
    env = {
        "STORAGE_BACKEND": "memory",
        "VECTOR_STORE_DIR": str(tmp_path / "store"),
        "API_KEYS": json.dumps(KEYS),
        "API_RATE_LIMIT": "0",
        **env,
    }
    return run_server([LLM_MEMORY, "serve", "--port", str(port)], port, "/healthz", env=env)


class Recording(httpx.HTTPTransport):
    """The real transport, noting the status of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("client")) as running:
        yield running


def test_the_client_has_the_managers_methods_and_models(server):
    with MemoryClient(server.url, "ada-key-123") as memory:
        tea = memory.write_memory("Ada drinks green tea.", "ada", type="preference")
        assert isinstance(tea, MemoryItem) and tea.type == "preference"
        batch = memory.write_memories(
            [
                {"content": "Ada lives in Oslo.", "user_id": "ada", "type": "fact"},
                MemoryItem(content="Ada plays chess.", user_id="ada", metadata={"k": 1}),
            ]
        )
        assert [m.content for m in batch] == ["Ada lives in Oslo.", "Ada plays chess."]
        found = memory.retrieve("green tea", "ada", limit=2)
        assert isinstance(found[0], ScoredMemory) and found[0].memory.id == tea.id
        facts = memory.list("ada", types=["fact"])
        assert [m.content for m in facts] == ["Ada lives in Oslo."]
        assert {m.id for m in memory.iter_memories("ada", page=2)} == {
            tea.id,
            *(m.id for m in batch),
        }
        assert memory.get(tea.id, "ada").content == tea.content
        assert memory.forget(tea.id, "ada") is True
        assert memory.forget(tea.id, "ada") is False
        with pytest.raises(NotFound, match="No memory"):
            memory.get(tea.id, "ada")
        assert memory.forget_user("ada") == 2


@pytest.mark.skipif(
    not hasattr(MemoryManager, "update_memory"),
    reason="MemoryManager.update_memory/history (issue #16, branch issue-16) are not on main yet",
)
def test_update_and_history_through_the_client(server):
    with MemoryClient(server.url, "ada-key-123") as memory:
        tea = memory.write_memory("Ada drinks green tea.", "ada")
        updated = memory.update_memory(tea.id, "ada", content="Ada drinks black tea.")
        assert (updated.id, updated.content) == (tea.id, "Ada drinks black tea.")
        assert memory.retrieve("black tea", "ada")[0].memory.id == tea.id
        events = memory.history(tea.id, "ada")
        assert [e.kind for e in events] == ["created", "updated"]
        assert events[1].old["content"] == "Ada drinks green tea."
        with pytest.raises(NotFound):
            memory.update_memory("missing", "ada", importance=0.9)
        with pytest.raises(NotFound):
            memory.history("missing", "ada")
        memory.forget_user("ada")


def test_errors_are_the_cores_classes(server):
    with MemoryClient(server.url, "ada-key-123") as memory:
        with pytest.raises(ValidationFailed, match="content"):
            memory.write_memory("  ", "ada")
        with pytest.raises(AccessDenied, match="may not access the memories of user 'bob'"):
            memory.list("bob")
        with pytest.raises(ValidationFailed):  # one invalid item: nothing of the batch is written
            memory.write_memories(
                [{"content": "Ada sings.", "user_id": "ada"}, {"content": "", "user_id": "ada"}]
            )
        assert memory.list("ada") == []
        with pytest.raises(AccessDenied):  # stats needs an admin key
            memory.stats()
        with pytest.raises(NotSupported, match="now"):
            memory.retrieve("tea", "ada", now=MemoryItem(content="x", user_id="a").created_at)
    with MemoryClient(server.url, "wrong-key-123") as stranger, pytest.raises(AccessDenied):
        stranger.list("ada")
    nowhere = MemoryClient(f"http://127.0.0.1:{free_port()}")
    with nowhere, pytest.raises(ServerUnavailable, match="is `llm-memory serve` running"):
        nowhere.list("ada")
    with MemoryClient(server.url, "admin-key-1") as admin:
        assert "users" in admin.stats()


def test_async_client(server):
    async def main() -> None:
        async with AsyncMemoryClient(server.url, "ada-key-123") as memory:
            tea = await memory.write_memory("Ada drinks oolong.", "ada")
            assert (await memory.retrieve("oolong", "ada"))[0].memory.id == tea.id
            assert [m.id async for m in memory.iter_memories("ada")] == [tea.id]
            with pytest.raises(NotFound):
                await memory.get("missing", "ada")
            assert await memory.forget(tea.id, "ada") is True
            assert await memory.forget_user("ada") == 0

    anyio.run(main)


def test_retries_429_honouring_retry_after(tmp_path):
    with serve(tmp_path, API_RATE_LIMIT="2", API_RATE_BURST="1") as limited:
        transport = Recording()
        with MemoryClient(limited.url, "ada-key-123", transport=transport, retries=FAST) as m:
            for _ in range(3):
                assert m.list("ada") == []
        assert 429 in transport.statuses and transport.statuses[-1] == 200
        assert transport.statuses.count(200) == 3


def test_retries_503_then_raises_the_cores_error(tmp_path):
    with serve(tmp_path) as no_model:  # no AGENT_MODEL: /chat answers 503 (ConfigError)
        transport = Recording()
        m = MemoryClient(no_model.url, "ada-key-123", transport=transport, retries=FAST)
        with m, pytest.raises(ConfigError, match="AGENT_MODEL"):
            m.chat("hello", "ada")
        assert transport.statuses == [503, 503, 503]


def test_chat_through_the_client(tmp_path):
    tea = {"content": "The user likes green tea.", "type": "preference", "importance": 0.7}
    with FakeOpenAIChat([tool_call("update_memory", tea), text("Noted.")]) as model:
        env = {
            "AGENT_MODEL": "openai:fake-chat",
            "AGENT_BASE_URL": model.base_url,
            "AGENT_API_KEY": "sk-local",
        }
        with serve(tmp_path, **env) as running, MemoryClient(running.url, "ada-key-123") as m:
            reply = m.chat("I like green tea", "ada")
            assert reply.response == "Noted."
            assert (reply.memories_created, reply.memories_retrieved) == (1, 0)
            assert [x.content for x in reply.created] == [tea["content"]]
            assert [x.content for x in m.list("ada", types=["preference"])] == [tea["content"]]


# -- the CLI through a server ------------------------------------------------------------------
def run(*args: str, url: str, key: str = "ada-key-123", input: str | None = None):
    env = {"LLM_MEMORY_URL": url, "LLM_MEMORY_API_KEY": key, "STORAGE_BACKEND": "unknown"}
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def test_cli_commands_act_through_the_server(server, tmp_path):
    added = run("add", "Ada drinks rooibos.", "--user", "ada", url=server.url)
    assert added.exit_code == 0, added.output
    memory_id = added.output.strip()
    found = run("search", "rooibos", "--user", "ada", "--json", url=server.url)
    assert json.loads(found.output)[0]["memory"]["id"] == memory_id
    listed = run("list", "--user", "ada", "--json", url=server.url)
    assert [m["content"] for m in json.loads(listed.output)] == ["Ada drinks rooibos."]
    got = run("get", memory_id[:12], "--user", "ada", "--json", url=server.url)
    assert json.loads(got.output)["id"] == memory_id
    updated = run("update", memory_id[:12], "--user", "ada", "--importance", "0.9", url=server.url)
    assert updated.output.strip() == memory_id, updated.output
    history = run("history", memory_id, "--user", "ada", "--json", url=server.url)
    events = json.loads(history.output)
    assert [(e["kind"], e["actor"][:8]) for e in events] == [
        ("created", "api-key:"),
        ("updated", "api-key:"),
    ]
    exported = run("export", "--user", "ada", url=server.url)
    assert json.loads(exported.output.splitlines()[0])["id"] == memory_id
    assert run("forget", memory_id, "--user", "ada", url=server.url).exit_code == 0
    imported = run("import", "-", "--user", "ada", url=server.url, input=exported.output)
    assert imported.exit_code == 0, imported.output
    assert [m.id for m in MemoryClient(server.url, "ada-key-123").list("ada")] == [memory_id]
    stats = run("stats", "--json", url=server.url, key="admin-key-1")
    assert json.loads(stats.output)["users"]["ada"]["total"] == 1
    denied = run("list", "--user", "bob", url=server.url)
    assert denied.exit_code == 1
    assert denied.output.strip() == (
        "Error: This API key may not access the memories of user 'bob'."
    )
    gone = run("forget-user", "--user", "ada", "--yes", url=server.url)
    assert gone.output.strip() == "Deleted 1 memory of 'ada'."


def test_cli_store_commands_refuse_url_in_one_line(server):
    for args in (["purge", "--yes"], ["reindex"]):
        result = run(*args, url=server.url)
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [
            f"Error: `llm-memory {args[0]}` works on "
            "the store itself, not through a server: run it on the server's host without "
            "--url / LLM_MEMORY_URL."
        ]


def test_cli_snapshots_through_the_server_and_beside_it(tmp_path):
    """While a server holds the store, snapshots are taken, listed and restored through
    it; listing, deleting and pruning on its host open only the snapshot store."""
    snaps = str(tmp_path / "snaps")
    with serve(tmp_path, SNAPSHOT_DIR=snaps) as srv:
        admin = {"url": srv.url, "key": "admin-key-1"}
        assert run("add", "Ada drinks rooibos.", "--user", "ada", url=srv.url).exit_code == 0
        created = run("snapshot", "create", "--json", **admin)
        assert created.exit_code == 0, created.output
        snapshot_id = json.loads(created.output)["id"]
        listed = run("snapshot", "list", "--json", **admin)
        assert [r["id"] for r in json.loads(listed.output)] == [snapshot_id]
        run("forget-user", "--user", "ada", "--yes", url=srv.url)
        restored = run("snapshot", "restore", "--yes", "--json", **admin)
        assert restored.exit_code == 0, restored.output
        assert json.loads(restored.output)["snapshot_id"] == snapshot_id
        back = json.loads(run("list", "--user", "ada", "--json", url=srv.url).output)
        assert [m["content"] for m in back] == ["Ada drinks rooibos."]
        pruned = run("snapshot", "prune", "--keep", "0", "--yes", **admin)
        assert pruned.exit_code == 1
        assert pruned.output.startswith("Error: `llm-memory snapshot prune` is not in the HTTP API")
        # on the host, without --url: the memory store (unopenable here) is never opened
        env = {"STORAGE_BACKEND": "unknown", "SNAPSHOT_DIR": snaps, "LLM_MEMORY_URL": ""}
        beside = CliRunner().invoke(cli, ["snapshot", "list", "--json"], env=env)
        assert beside.exit_code == 0, beside.output
        assert [r["id"] for r in json.loads(beside.output)] == [snapshot_id]


def test_a_key_an_http_header_cannot_carry_is_refused_in_one_line():
    with pytest.raises(
        ConfigError, match=r"^The API key holds U\+2026 .* position 8, .*placeholder"
    ):
        MemoryClient("http://127.0.0.1:1", api_key="k-alice-…")
    with pytest.raises(ConfigError, match="U\\+0020"):
        AsyncMemoryClient("http://127.0.0.1:1", api_key="k alice")
