"""`llm-memory serve` as a real process: health, a whole chat against a loopback model, refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from llm_memory.cli import cli
from llm_memory_testing.openai_chat import FakeOpenAIChat, text, tool_call
from llm_memory_testing.servers import free_port, run_server

LLM_MEMORY = str(Path(sys.executable).parent / "llm-memory")


@pytest.mark.server
def test_serve_answers_healthz_and_chats_through_a_loopback_model(tmp_path):
    tea = {"content": "The user likes green tea.", "type": "preference", "importance": 0.7}
    with FakeOpenAIChat([tool_call("update_memory", tea), text("Noted.")]) as model:
        port = free_port()
        env = {
            "STORAGE_BACKEND": "memory",
            "VECTOR_STORE_DIR": str(tmp_path / "store"),
            "AGENT_MODEL": "openai:fake-chat",
            "AGENT_BASE_URL": model.base_url,
            "AGENT_API_KEY": "sk-local",
        }
        argv = [LLM_MEMORY, "serve", "--port", str(port)]
        with (
            run_server(argv, port, "/healthz", timeout=60, env=env) as server,
            httpx.Client(base_url=server.url, timeout=60) as http,
        ):
            assert http.get("/healthz").json() == {"status": "ok"}
            reply = http.post(
                "/chat",
                json={"user_id": "ada", "user_input": "I like green tea"},
                headers={"X-Request-ID": "req-1"},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["response"] == "Noted."
            assert [m["content"] for m in reply.json()["created"]] == [tea["content"]]
            listed = http.get("/users/ada/memories", params={"type": "preference"}).json()
            assert [m["content"] for m in listed] == [tea["content"]]
        output = server.output()
    assert "No API keys configured: listening on loopback only" in output
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    chat_log = next(entry for entry in logs if entry.get("request_id") == "req-1")
    assert (chat_log["path"], chat_log["status"], chat_log["level"]) == ("/chat", 200, "info")
    assert len(model.chat_requests()) == 2


@pytest.mark.server
def test_serve_with_agent_model_demo_answers_the_seeds_contract(tmp_path):
    port = free_port()
    env = {"AGENT_MODEL": "demo", "VECTOR_STORE_DIR": str(tmp_path / "store")}  # embedded Chroma
    argv = [LLM_MEMORY, "serve", "--port", str(port)]
    with (
        run_server(argv, port, "/healthz", timeout=60, env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        first = http.post("/chat", json={"user_id": "ada", "user_input": "I like green tea."})
        second = http.post("/chat", json={"user_id": "ada", "user_input": "Which tea do I like?"})
        output = server.output()
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    one, two = first.json(), second.json()
    assert (one["memories_created"], one["memories_retrieved"]) == (1, 0)
    assert two["memories_created"] == 0 and two["memories_retrieved"] == len(two["retrieved"]) >= 1
    assert "The user likes green tea." in two["response"]
    assert "AGENT_MODEL=demo: the offline demo model answers (pattern rules, not an LLM)." in output


def test_serve_refuses_a_public_address_without_keys():
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", str(free_port())])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        """Error: Refusing to listen on 0.0.0.0 without API keys: set API_KEYS (e.g. '{"<key>": "admin"}') or use --host 127.0.0.1."""
    ]


def test_serve_refuses_malformed_keys(monkeypatch):
    monkeypatch.setenv("API_KEYS", '{"short": "admin"}')
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1 and "at least 8 characters" in result.output


def test_serve_refuses_agent_model_test_before_binding(monkeypatch):
    monkeypatch.setenv("AGENT_MODEL", "test")
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: AGENT_MODEL=test is PydanticAI's")
