"""The CLI, through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from llm_memory.cli import cli


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "store"))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_add_search_list_forget(run) -> None:
    memory_id = run(
        "add",
        "I love hiking in the Alps",
        "--user",
        "alice",
        "--type",
        "preference",
        "--importance",
        "0.8",
    ).stdout.strip()
    run("add", "Bob's secret recipe uses saffron", "--user", "bob")
    found = json.loads(run("search", "hiking", "--user", "alice", "--json").stdout)
    assert [r["memory"]["id"] for r in found] == [memory_id]
    assert set(found[0]) >= {"score", "relevance", "importance", "recency"}
    table = run("search", "hiking", "-u", "alice").stdout
    assert "I love hiking in the Alps" in table and "score" in table
    listed = json.loads(run("list", "--user", "alice", "--json").stdout)
    assert [m["content"] for m in listed] == ["I love hiking in the Alps"]
    assert "saffron" not in run("search", "saffron recipe", "--user", "alice").stdout
    run("forget", memory_id[:12], "--user", "alice")
    assert json.loads(run("list", "--user", "alice", "--json").stdout) == []
    assert len(json.loads(run("list", "--user", "bob", "--json").stdout)) == 1


def test_metadata_and_get(run) -> None:
    out = json.loads(
        run(
            "add", "Dentist on Friday", "-u", "u", "-m", "source=calendar", "-m", "n=3", "--json"
        ).stdout
    )
    assert out["metadata"] == {"source": "calendar", "n": 3}
    shown = json.loads(run("get", out["id"], "-u", "u", "--json").stdout)
    assert shown["content"] == "Dentist on Friday"


def test_list_says_how_many_there_are_when_it_stops_at_its_limit(run, tmp_path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text(_lines(60))
    run("import", str(dump))
    first = run("list", "--user", "u")
    assert first.stdout.count("fact number") == 50
    assert first.stderr.strip() == (
        "Showing 1-50 of 60 (use --limit N and --offset N to page; the next page: --offset 50)."
    )
    last = run("list", "--user", "u", "--offset", "50")
    assert last.stdout.count("fact number") == 10
    assert last.stderr.strip() == "Showing 51-60 of 60 (use --limit N and --offset N to page)."
    assert run("list", "--user", "u", "-n", "60").stderr == ""
    assert "Showing" not in run("list", "--user", "u", "--type", "fact").stderr
    assert len(json.loads(run("list", "--user", "u", "--json").stdout)) == 50


def test_forget_user_asks_first(run) -> None:
    run("add", "one", "-u", "carol")
    aborted = run("forget-user", "-u", "carol", input="n\n", ok=False)
    assert aborted.exit_code == 1
    assert len(json.loads(run("list", "-u", "carol", "--json").stdout)) == 1
    run("forget-user", "-u", "carol", "--yes")
    assert json.loads(run("list", "-u", "carol", "--json").stdout) == []


def test_export_then_import_into_an_empty_store(run, tmp_path, monkeypatch) -> None:
    run("add", "I live in Oslo", "-u", "u", "-t", "fact")
    run("add", "I like tea", "-u", "v", "-t", "preference")
    dump = tmp_path / "dump.jsonl"
    run("export", "-o", str(dump))
    assert len(dump.read_text().splitlines()) == 2
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "other"))
    assert json.loads(run("import", str(dump), "--json").stdout) == {
        "imported": 2,
        "new": 2,
        "refreshed": 0,
    }
    assert json.loads(run("stats", "--json").stdout)["total"] == 2
    again = run("import", str(dump)).stdout
    assert "Imported 2 memories: 0 new, 2 refreshed" in again
    assert json.loads(run("stats", "--json").stdout)["total"] == 2


def test_import_refuses_a_line_that_is_not_utf8_in_one_line(run, tmp_path) -> None:
    dump = tmp_path / "latin1.jsonl"
    dump.write_bytes(
        '{"user_id": "u", "content": "tea"}\n{"user_id": "u", "content": "café"}\n'.encode(
            "latin-1"
        )
    )
    result = run("import", str(dump), ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Line 2 is not UTF-8") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output and "UnicodeDecodeError" not in result.output
    assert json.loads(run("stats", "--json").stdout)["total"] == 0


def _lines(n: int, bad: int | None = None) -> str:
    rows = [{"user_id": "u", "content": f"fact number {i}"} for i in range(1, n + 1)]
    if bad is not None:  # a line the model accepts but a write refuses: a time days ahead
        rows[bad - 1]["created_at"] = "2999-01-01T00:00:00+00:00"
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_a_bad_line_after_the_first_batch_writes_nothing(run, tmp_path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text(_lines(300, bad=300))
    result = run("import", str(dump), ok=False)
    assert result.exit_code == 1 and "Line 300 is not a valid memory" in result.stderr
    assert json.loads(run("stats", "--json").stdout)["total"] == 0


def test_ctrl_c_during_an_import_says_how_many_were_written(run, tmp_path, monkeypatch) -> None:
    from llm_memory.manager import MemoryManager

    dump = tmp_path / "dump.jsonl"
    dump.write_text(_lines(300))
    real, calls = MemoryManager.write_memories, []

    def interrupted_on_the_second_batch(self, items, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, items, **kw)

    monkeypatch.setattr(MemoryManager, "write_memories", interrupted_on_the_second_batch)
    result = run("import", str(dump), ok=False)
    assert result.exit_code == 130
    assert "Interrupted: 256 of 300 memories were written and are kept." in result.stderr
    assert "Re-running the import is safe" in result.stderr
    monkeypatch.setattr(MemoryManager, "write_memories", real)
    assert json.loads(run("stats", "--json").stdout)["total"] == 256
    assert "300 memories: 44 new, 256 refreshed" in run("import", str(dump)).stdout
    assert json.loads(run("stats", "--json").stdout)["total"] == 300


def test_bad_import_writes_nothing_and_says_which_line(run, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id": "u", "content": "fine"}\n{"user_id": "u"}\n')
    result = run("import", str(bad), ok=False)
    assert result.exit_code == 1
    assert "Line 2" in result.output
    assert json.loads(run("stats", "--json").stdout)["total"] == 0


def test_errors_are_one_line_with_exit_code_1(run) -> None:
    result = run("add", "   ", "--user", "u", ok=False)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert "Traceback" not in result.output


def test_usage_errors_are_clicks_with_exit_status_2_as_the_readme_says(run) -> None:
    from pathlib import Path

    result = run("search", "tea", "--user", "ada", "-k", "0", ok=False)
    assert result.exit_code == 2
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split('$ llm-memory search "tea" --user ada -k 0\n', 1)[1].split("```")[0]
    shown = result.stderr.replace("cli search", "llm-memory search")  # CliRunner's prog name
    assert shown == block, "the README shows click's message as it is"
    assert "exit\nstatus 2" in readme


def test_stats_purge_reindex_config_plugins(run, monkeypatch) -> None:
    run("add", "I play chess", "-u", "u", "-t", "fact")
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["users"]["u"]["fact"] == 1
    assert json.loads(run("purge", "--days", "30", "--json", "--yes").stdout)["purged"] == 0
    monkeypatch.setenv("HASH_DIMENSION", "64")
    assert "llm-memory reindex" in run("search", "chess", "-u", "u", ok=False).output
    assert json.loads(run("reindex", "--json").stdout)["reindexed"] == 1
    assert "I play chess" in run("search", "chess", "-u", "u").stdout
    monkeypatch.setenv("AGENT_API_KEY", "sk-hidden")
    config = json.loads(run("config", "--json").stdout)["settings"]
    assert config["storage_backend"] == "memory" and config["agent_api_key"] == "********"
    plugins = json.loads(run("plugins", "--json").stdout)
    assert plugins[0]["name"] == "llm-memory"
    assert "memory" in plugins[0]["providers"]["storage"]


def test_config_shows_sources_and_the_selected_providers_settings(run, monkeypatch, tmp_path):
    (tmp_path / "llm-memory.toml").write_text(
        'collection = "notes"\nembedding_provider = "openai"\n'
        '[openai]\nmodel = "text-embedding-3-large"\n[memory]\npath = "mem.json"\n'
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hidden-123")
    monkeypatch.setenv("MEMORY_STORE_PATH", "env.json")
    data = json.loads(run("config", "--json").stdout)
    assert data["config_file"] == "llm-memory.toml"
    sources = data["sources"]
    assert (sources["storage_backend"], sources["collection"], sources["scorer"]) == (
        "environment",
        "file",
        "default",
    )
    providers = {p["kind"]: p for p in data["providers"]}
    openai = providers["embedder"]
    assert openai["name"] == "openai" and openai["distribution"].startswith("llm-memory-openai")
    assert (
        openai["settings"]["api_key"] == "********"
        and openai["sources"]["api_key"] == "environment"
    )
    assert openai["settings"]["model"] == "text-embedding-3-large"
    assert openai["sources"]["model"] == "file" and openai["sources"]["timeout"] == "default"
    assert openai["variables"]["organization"] == "OPENAI_ORGANIZATION"
    memory = providers["storage"]
    assert (memory["settings"]["path"], memory["sources"]["path"]) == ("env.json", "environment")
    assert providers["summarizer"]["settings"] == {} and "reranker" not in providers
    human = run("config").stdout
    assert "sk-hidden-123" not in human and "sk-hidden-123" not in json.dumps(data)
    assert "# embedding provider 'openai' (llm-memory-openai" in human
    assert any(
        line.split()[:3] == ["OPENAI_MODEL", "text-embedding-3-large", "file"]
        for line in human.splitlines()
    )
    assert any(line.split() == ["COLLECTION", "notes", "file"] for line in human.splitlines())


def test_config_shows_a_provider_that_cannot_be_built(run, monkeypatch):
    monkeypatch.setenv("SCORER", "nope")
    data = json.loads(run("config", "--json").stdout)
    scorer = next(p for p in data["providers"] if p["kind"] == "scorer")
    assert scorer["error"].startswith("Unknown scorer 'nope'")
    assert "cannot be built: Unknown scorer 'nope'" in run("config").stdout


def test_demo_runs_offline_on_the_memory_backend(run) -> None:
    report = json.loads(run("demo", "--json").stdout)
    assert report["facts"] == 4 and report["episodic"] >= 5
    assert report["other_user_results"] == 0
    first, second = report["chat"]
    assert "The user likes green tea." in [m["content"] for m in first["created"]]
    assert "green tea" in second["response"]
    first = report["searches"][0]["results"][0]["memory"]["content"]
    assert "peanuts" in first or "sister" in first


def test_demo_run_twice_stores_nothing_twice_and_says_so(run) -> None:
    run("demo")
    first = json.loads(run("stats", "--json").stdout)["users"]["demo-user"]
    again = run("demo")
    assert json.loads(run("stats", "--json").stdout)["users"]["demo-user"] == first
    assert "conversation is already stored" in again.stdout
    assert "already stored: refreshed, not duplicated" in again.stdout
    assert "already ran in an earlier demo" in again.stdout
    report = json.loads(run("demo", "--json").stdout)
    assert (report["episodic_new"], report["facts_new"], report["chat"]) == (0, 0, [])
    assert report["chat_already_stored"] is True
    assert json.loads(run("stats", "--json").stdout)["users"]["demo-user"] == first


def _cli(*args: str, cwd, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_memory.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=120,
    )


def test_real_subprocess_keeps_memories_between_commands(tmp_path) -> None:
    env = {"STORAGE_BACKEND": "memory"}
    assert (
        _cli("add", "I am allergic to peanuts", "--user", "u", cwd=tmp_path, **env).returncode == 0
    )
    found = _cli("search", "peanut allergies", "--user", "u", "--json", cwd=tmp_path, **env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["memory"]["content"] == "I am allergic to peanuts"


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path) -> None:
    env = {**os.environ, "STORAGE_BACKEND": "memory"}
    rows = "".join(json.dumps({"user_id": "u", "content": f"fact {i}"}) + "\n" for i in range(500))
    (tmp_path / "many.jsonl").write_text(rows)
    argv = [sys.executable, "-m", "llm_memory.cli"]
    subprocess.run(
        [*argv, "import", "many.jsonl"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    proc = subprocess.Popen(
        [*argv, "export"],  # 500 JSON lines: more than a pipe holds
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Error" not in err and "BrokenPipe" not in err, err


def test_missing_backend_error_says_how_to_fix(tmp_path) -> None:
    result = _cli("list", "--user", "u", cwd=tmp_path, LLM_MEMORY_LOAD_PLUGINS="")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: Storage backend 'chroma' comes from llm-memory-chroma, which is installed but "
        "not loaded: LLM_MEMORY_LOAD_PLUGINS='' does not name it. Add llm-memory-chroma to "
        "LLM_MEMORY_LOAD_PLUGINS (or unset it), or choose a loaded one with STORAGE_BACKEND=memory."
    )


def test_help_imports_no_vendor_sdk(tmp_path) -> None:
    code = (
        "import sys, llm_memory.cli;"
        "heavy = [m for m in ('chromadb', 'lancedb', 'openai', 'cohere', 'boto3', 'numpy', 'fastapi',"
        " 'pydantic_ai', 'mcp', 'httpx') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.strip() == "[]", result.stderr
    started = time.perf_counter()
    assert _cli("--help", cwd=tmp_path).returncode == 0
    print(f"llm-memory --help: {time.perf_counter() - started:.2f}s")  # reported, not asserted


def test_forget_and_forget_user_speak_json_and_count_in_words(run) -> None:
    memory_id = run("add", "one thing", "-u", "dora").stdout.strip()
    run("add", "another thing", "-u", "dora")
    gone = json.loads(run("forget", memory_id[:12], "-u", "dora", "--json").stdout)
    assert gone == {"forgotten": memory_id, "user_id": "dora"}
    assert run("forget-user", "-u", "dora", "--yes").stdout.strip() == (
        "Deleted 1 memory of 'dora'."
    )
    run("add", "a third", "-u", "dora")
    assert json.loads(run("forget-user", "-u", "dora", "--yes", "--json").stdout) == {
        "deleted": 1,
        "user_id": "dora",
    }


def test_a_single_invalid_add_is_not_memory_number_one(run) -> None:
    out = run("add", "x", "-u", "eve", "--importance", "7", ok=False).output
    assert "Memory #1" not in out


def test_stats_shows_the_total_once(run) -> None:
    run("add", "I play chess", "-u", "u", "-t", "fact")
    lines = run("stats").stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("memories:")) == 1
    assert not any("{'" in line for line in lines)  # no Python reprs


def test_stats_and_config_name_the_keyword_index_in_use(run, monkeypatch, tmp_path) -> None:
    run("add", "I play chess", "-u", "u")
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["keyword_index"].startswith("core: SQLite FTS5 (")
    assert str(tmp_path / "store") in stats["keyword_index"]
    assert f"keyword index: {stats['keyword_index']}" in run("stats").stdout.splitlines()
    config = json.loads(run("config", "--json").stdout)
    assert config["keyword_index"] == stats["keyword_index"]  # what stats finds in use
    assert f"# keyword index: {stats['keyword_index']}" in run("config").stdout.splitlines()
    monkeypatch.setenv("HYBRID_SEARCH", "false")
    assert json.loads(run("stats", "--json").stdout)["keyword_index"].startswith("none")
    assert json.loads(run("config", "--json").stdout)["keyword_index"].startswith("none")
