"""Many processes on one Postgres: two `llm-memory serve` processes, concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from llm_memory.storage import MemoryFilter
from llm_memory_testing.servers import free_port, run_server
from psycopg import sql

pytestmark = pytest.mark.server

BIN = Path(sys.executable).parent
WRITER = """
import sys
from llm_memory import MemoryManager

worker, count = sys.argv[1], int(sys.argv[2])
with MemoryManager.from_settings() as manager:
    for start in range(0, count, 25):
        manager.write_memories(
            {"content": f"writer {worker} note {n} about topic{n % 7}", "user_id": "shared"}
            for n in range(start, min(start + 25, count))
        )
"""


def _env(pg_dsn: str, pg_table: str, here: Path) -> dict[str, str]:
    # Each process has its own VECTOR_STORE_DIR: nothing is shared but the database.
    return {
        "STORAGE_BACKEND": "postgres",
        "POSTGRES_DSN": pg_dsn,
        "POSTGRES_TABLE": pg_table,
        "VECTOR_STORE_DIR": str(here),
    }


def test_two_servers_see_each_others_writes_and_deletes_at_once(pg_dsn, pg_table, tmp_path):
    a_port, b_port = free_port(), free_port()
    with (
        run_server(
            [str(BIN / "llm-memory"), "serve", "--port", str(a_port)],
            a_port, "/healthz", env=_env(pg_dsn, pg_table, tmp_path / "a"),
        ) as a,
        run_server(
            [str(BIN / "llm-memory"), "serve", "--port", str(b_port)],
            b_port, "/healthz", env=_env(pg_dsn, pg_table, tmp_path / "b"),
        ) as b,
        httpx.Client(base_url=a.url, timeout=60) as via_a,
        httpx.Client(base_url=b.url, timeout=60) as via_b,
    ):  # fmt: skip
        for text in ("Ada keeps her passport in the blue drawer", "Ada likes green tea"):
            assert (
                via_a.post("/memories", json={"user_id": "ada", "content": text}).status_code == 201
            )
        written = via_a.post(
            "/memories", json={"user_id": "ada", "content": "Ada's bicycle is a red Gazelle"}
        ).json()
        hits = via_b.post(
            "/memories/search", json={"user_id": "ada", "query": "gazelle bicycle", "limit": 3}
        ).json()
        assert hits[0]["memory"]["id"] == written["id"]
        assert set(hits[0]["sources"]) == {"dense", "keyword"}  # found by both, through b

        deleted = via_a.delete(f"/users/ada/memories/{written['id']}")
        assert deleted.status_code == 204
        assert via_b.get(f"/users/ada/memories/{written['id']}").status_code == 404
        everything = {"query": "gazelle bicycle", "limit": 10, "min_relevance": 0}
        after = via_b.post("/memories/search", json={"user_id": "ada", **everything}).json()
        assert written["id"] not in {hit["memory"]["id"] for hit in after}
        assert len(after) == 2
        history = via_b.get(f"/users/ada/memories/{written['id']}/history").json()
        assert [e["kind"] for e in history] == ["created", "forgotten"]  # one shared history


def test_concurrent_writer_processes_lose_nothing(pg_dsn, pg_table, tmp_path, open_store):
    workers, each = 4, 200
    env = _env(pg_dsn, pg_table, tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(w), str(each)],
            env={**os.environ, **env},
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    store = open_store()
    assert store.count("shared") == workers * each
    contents = {m.content for m in store.iter_memories("shared")}
    assert contents == {
        f"writer {w} note {n} about topic{n % 7}" for w in range(workers) for n in range(each)
    }
    with store.transaction("shared") as conn:  # every write's keyword row is there too
        kw = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(store.names.of("_kw")))
        assert kw.fetchone()[0] == workers * each
    words = store.own_keyword_index(None).search("topic3", MemoryFilter("shared"), 1000)
    assert len(words) == sum(1 for n in range(each) if n % 7 == 3) * workers
