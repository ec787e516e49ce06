"""Issue 3's acceptance, as a user would try it: the CLI on real Chroma and LanceDB servers."""

from __future__ import annotations

import json
import threading
import uuid

import boto3
import pytest
from click.testing import CliRunner
from llm_memory import MemoryManager
from llm_memory.cli import cli
from llm_memory_testing.servers import chroma_server


@pytest.fixture
def run(monkeypatch):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def _ids(listing: str) -> list[str]:
    return [m["content"] for m in json.loads(listing)]


def test_cli_on_a_chroma_server_survives_a_restart(run, monkeypatch, tmp_path) -> None:
    data = tmp_path / "chroma-data"
    monkeypatch.setenv("STORAGE_BACKEND", "chroma")
    with chroma_server(data) as server:
        monkeypatch.setenv("CHROMA_HOST", server.host)
        monkeypatch.setenv("CHROMA_PORT", str(server.port))
        kept = run("add", "I keep my bike in the basement", "--user", "alice").stdout.strip()
        gone = run("add", "My locker code is on a sticky note", "--user", "alice").stdout.strip()
        run("add", "Bob's bike is red", "--user", "bob")
        hits = json.loads(run("search", "where is my bike", "--user", "alice", "--json").stdout)
        assert hits[0]["memory"]["id"] == kept
        assert all(h["memory"]["user_id"] == "alice" for h in hits)
        run("forget", gone, "--user", "alice")
    with chroma_server(data) as server:  # a new server process on the same data
        monkeypatch.setenv("CHROMA_PORT", str(server.port))
        assert _ids(run("list", "--user", "alice", "--json").stdout) == [
            "I keep my bike in the basement"
        ]
        assert _ids(run("list", "--user", "bob", "--json").stdout) == ["Bob's bike is red"]


@pytest.fixture
def lancedb_on_moto(moto_s3, monkeypatch):
    bucket = f"acceptance-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_s3.url, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    monkeypatch.setenv("STORAGE_BACKEND", "lancedb")
    monkeypatch.setenv("LANCEDB_URI", f"s3://{bucket}/memories")
    monkeypatch.setenv("LANCEDB_ENDPOINT", moto_s3.url)
    monkeypatch.setenv("LANCEDB_REGION", "us-east-1")
    return bucket


def test_cli_on_lancedb_on_s3_isolates_users(run, lancedb_on_moto) -> None:
    run("add", "I am allergic to shellfish", "--user", "alice", "--type", "fact")
    run("add", "I love shellfish paella", "--user", "bob", "--type", "preference")
    alice = json.loads(run("search", "shellfish", "--user", "alice", "--json").stdout)
    assert [h["memory"]["content"] for h in alice] == ["I am allergic to shellfish"]
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["storage"]["backend"] == "lancedb" and stats["total"] == 2


@pytest.mark.parametrize("backend", ["chroma", "lancedb"])
def test_a_dimension_mismatch_is_refused(run, monkeypatch, tmp_path, backend) -> None:
    monkeypatch.setenv("STORAGE_BACKEND", backend)
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "db"))
    run("add", "I like jazz", "--user", "u")
    monkeypatch.setenv("HASH_DIMENSION", "64")
    refused = run("search", "jazz", "--user", "u", ok=False)
    assert refused.exit_code == 1 and "llm-memory reindex" in refused.output
    assert refused.output.count("\n") == 1
    run("reindex")
    assert "I like jazz" in run("search", "jazz", "--user", "u").stdout


@pytest.mark.parametrize("backend", ["chroma", "lancedb"])
def test_ten_thousand_memories_from_four_threads_none_lost(tmp_path, backend) -> None:
    memory = MemoryManager.from_settings(
        storage_backend=backend, vector_store_dir=tmp_path / "db", hybrid_search=False
    )
    errors: list[BaseException] = []

    def writer(thread: int) -> None:
        try:
            for batch in range(5):
                memory.write_memories(
                    {
                        "user_id": f"user-{(thread * 5 + batch) % 7}",
                        "content": f"memory {thread}-{batch}-{i}",
                    }
                    for i in range(500)
                )
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memory.store.count() == 10_000
    assert sum(memory.store.count(f"user-{u}") for u in range(7)) == 10_000
    memory.close()
