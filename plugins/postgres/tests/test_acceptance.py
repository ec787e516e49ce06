"""Issue 14's acceptance as a user runs it: the installed `llm-memory` command, each call its
own process, with only STORAGE_BACKEND=postgres and POSTGRES_DSN pointing it at a real
PostgreSQL: the README's quick start, `demo`, `snapshot create/restore` and `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from llm_memory_testing.servers import free_port

# Each call is a new process (a second or more of start-up, far more on a loaded machine).
pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

EXE = str(Path(sys.executable).with_name("llm-memory"))


@pytest.fixture
def env(pg_dsn, pg_table, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "STORAGE_BACKEND": "postgres",
        "POSTGRES_DSN": pg_dsn,
        "POSTGRES_TABLE": pg_table,
        "VECTOR_STORE_DIR": str(tmp_path / "data"),
        "SNAPSHOT_DIR": str(tmp_path / "snapshots"),
    }


@pytest.fixture
def cli(env, tmp_path):
    def run(*args: str) -> str:
        done = subprocess.run(
            [EXE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"llm-memory {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    return run


def _contents(cli, user: str) -> list[str]:
    return sorted(m["content"] for m in json.loads(cli("list", "--user", user, "--json")))


def test_demo_add_search_and_snapshots_in_separate_processes(cli):
    demo = json.loads(cli("demo", "--json"))
    assert demo["storage"]["backend"] == "postgres"

    passport = cli("add", "I keep my passport in the blue drawer", "--user", "ada").strip()
    cli("add", "I like green tea in the morning", "--user", "ada")
    cli("add", "My passport is at the embassy", "--user", "bob")
    hits = json.loads(cli("search", "where is my passport", "--user", "ada", "--json"))
    assert hits[0]["memory"]["id"] == passport
    assert {h["memory"]["user_id"] for h in hits} == {"ada"}
    assert set(hits[0]["sources"]) == {"dense", "keyword"}

    created = json.loads(cli("snapshot", "create", "--json"))
    assert created["counts"]["ada"] == 2 and created["counts"]["bob"] == 1
    assert created["counts"]["demo-user"] >= 4  # the demo's turns and facts, in Postgres
    cli("forget-user", "--user", "ada", "--yes")
    cli("add", "Bob moved to Porto", "--user", "bob")

    restored = json.loads(cli("snapshot", "restore", "latest", "--json", "--yes"))
    assert restored["restored"] == sum(created["counts"].values())
    assert _contents(cli, "ada") == [
        "I keep my passport in the blue drawer",
        "I like green tea in the morning",
    ]
    assert _contents(cli, "bob") == ["My passport is at the embassy"]  # Porto is gone
    hits = json.loads(cli("search", "passport drawer", "--user", "ada", "--json"))
    assert hits[0]["memory"]["id"] == passport


def test_serve_writes_and_searches_then_stops_on_sigterm(cli, env, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [EXE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /healthz within 60 s"
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=60) as client:
            written = client.post(
                "/memories", json={"user_id": "ada", "content": "Ada's bicycle is a red Gazelle"}
            )
            assert written.status_code == 201, written.text
            hits = client.post(
                "/memories/search", json={"user_id": "ada", "query": "gazelle bicycle", "limit": 3}
            ).json()
            assert hits[0]["memory"]["id"] == written.json()["id"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    output = (tmp_path / "serve.log").read_text()
    # uvicorn shuts down, then dies of the signal it caught (as systemd expects): -15.
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output, output  # the lifespan closed the store
    assert "Traceback" not in output and '"level": "error"' not in output, output
    # What the server wrote is in the database, for the next process.
    assert _contents(cli, "ada") == ["Ada's bicycle is a red Gazelle"]
