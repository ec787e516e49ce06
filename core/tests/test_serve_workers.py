"""`llm-memory serve --workers N`: refused before binding on a store one process owns; on a
shareable store every worker serves, and SIGTERM stops them all promptly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from llm_memory_testing.servers import free_port, run_server

LLM_MEMORY = str(Path(sys.executable).parent / "llm-memory")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.server
def test_workers_are_refused_before_binding_on_embedded_chroma(tmp_path):
    pytest.importorskip("llm_memory_chroma")
    port = free_port()
    env = {**os.environ, "STORAGE_BACKEND": "chroma", "VECTOR_STORE_DIR": str(tmp_path)}
    env.pop("CHROMA_HOST", None)
    done = subprocess.run(
        [LLM_MEMORY, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "can be opened by one process only" in lines[0]
    assert "--workers 1" in lines[0] and "CHROMA_HOST" in lines[0] and "Postgres" in lines[0]
    assert "Traceback" not in done.stderr
    with socket.socket() as probe:  # nothing was bound: the port is still free
        probe.bind(("127.0.0.1", port))


@pytest.mark.server
def test_workers_share_a_store_file_and_stop_on_sigterm(tmp_path):
    port = free_port()
    env = {"STORAGE_BACKEND": "memory", "VECTOR_STORE_DIR": str(tmp_path / "store")}
    argv = [LLM_MEMORY, "serve", "--workers", "2", "--port", str(port)]
    with run_server(argv, port, "/healthz", timeout=120, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(6):  # spread over both workers
                body = {"content": f"fact number {n} about zebras", "user_id": "ada"}
                assert http.post("/memories", json=body).status_code == 201
            listed = http.get("/users/ada/memories").json()
            assert sorted(m["content"] for m in listed) == sorted(
                f"fact number {n} about zebras" for n in range(6)
            )
        supervisor = server.process.pid
        workers = _children(supervisor)
        assert len(workers) >= 2, workers
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "a worker outlived the supervisor"
    assert took < 15
