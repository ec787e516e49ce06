"""The README's quick-start commands, `stats` and `snapshot create/restore` on Postgres,
through the real CLI; settings from the environment and the `[postgres]` table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_memory import plugins
from llm_memory.cli import cli
from llm_memory.errors import ConfigError
from llm_memory.settings import load_settings
from llm_memory_postgres.store import PostgresStore

pytestmark = pytest.mark.server


@pytest.fixture
def run(monkeypatch, pg_dsn, pg_table):
    monkeypatch.setenv("STORAGE_BACKEND", "postgres")
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("POSTGRES_TABLE", pg_table)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result

    return invoke


def _contents(run, user: str) -> list[str]:
    return sorted(m["content"] for m in json.loads(run("list", "--user", user, "--json").stdout))


def test_quick_start_commands(run, pg_table):
    run(
        "add", "I'm allergic to peanuts", "--user", "alice", "--type", "fact", "--importance", "0.9"
    )
    run("add", "I live in Oslo", "--user", "bob")
    hits = json.loads(run("search", "what am I allergic to?", "--user", "alice", "--json").stdout)
    assert [h["memory"]["content"] for h in hits] == ["I'm allergic to peanuts"]
    assert _contents(run, "alice") == ["I'm allergic to peanuts"]
    stats = run("stats").stdout
    assert "postgres" in stats and pg_table in stats
    assert "password" not in stats


def test_snapshot_create_and_restore(run):
    for user, text in [("alice", "Alice drinks green tea"), ("alice", "Alice lives in Oslo"),
                       ("bob", "Bob rides a bike")]:  # fmt: skip
        run("add", "--user", user, text)
    first = json.loads(run("snapshot", "create", "--json").stdout)
    assert first["counts"] == {"alice": 2, "bob": 1}
    run("forget-user", "--user", "alice", "--yes")
    run("add", "--user", "bob", "Bob sold the bike")
    restored = json.loads(run("snapshot", "restore", "latest", "--json", "--yes").stdout)
    assert restored["restored"] == 3
    assert _contents(run, "alice") == ["Alice drinks green tea", "Alice lives in Oslo"]
    assert _contents(run, "bob") == ["Bob rides a bike"]
    hits = json.loads(run("search", "green tea", "--user", "alice", "--json").stdout)
    assert hits[0]["memory"]["content"] == "Alice drinks green tea"
    assert set(hits[0]["sources"]) == {"dense", "keyword"}  # the keyword rows came back too


def test_options_from_the_toml_table_and_a_missing_dsn(pg_dsn, monkeypatch):
    Path("llm-memory.toml").write_text(
        f'storage_backend = "postgres"\n\n[postgres]\ndsn = "{pg_dsn}"\n'
        'schema_name = "from_toml"\ntable = "notes"\npool_size = 2\nstatement_timeout_ms = 5000\n'
    )
    store = plugins.build("storage", "postgres", load_settings())
    assert isinstance(store, PostgresStore)
    assert (store.names.schema, store.names.table, store.options.pool_size) == (
        "from_toml",
        "notes",
        2,
    )
    assert store.location().endswith("#from_toml.notes")
    store.close()
    Path("llm-memory.toml").unlink()
    with pytest.raises(ConfigError, match="POSTGRES_DSN is not set"):
        plugins.build("storage", "postgres", load_settings(storage_backend="postgres"))


def test_an_unreachable_server_is_one_line_naming_the_setting(tmp_path):
    dsn = f"postgresql://nobody:secret@/postgres?host={tmp_path}&connect_timeout=2"
    with pytest.raises(ConfigError, match="POSTGRES_DSN") as caught:
        PostgresStore(dsn, "memories")
    assert "\n" not in str(caught.value) and "secret" not in str(caught.value)
