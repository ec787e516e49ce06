"""`llm-memory snapshot …` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_memory.cli import cli


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("HASH_DIMENSION", "32")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result

    for user, text in [
        ("alice", "Alice drinks green tea"),
        ("alice", "Alice lives in Oslo"),
        ("bob", "Bob rides a bike"),
    ]:
        invoke("add", "-u", user, text)
    return invoke


def _memories(run, user: str) -> list[str]:
    return sorted(m["content"] for m in json.loads(run("list", "-u", user, "--json").stdout))


def test_create_list_restore_delete_prune(run):
    first = json.loads(run("snapshot", "create", "--json").stdout)
    assert (
        first["total"] == 3
        and first["counts"] == {"alice": 2, "bob": 1}
        and first["user_id"] is None
    )
    run("forget-user", "-u", "alice", "--yes")
    run("add", "-u", "bob", "Bob sold the bike")
    human = run("snapshot", "list").stdout
    assert first["id"] in human and "MEMORIES" in human

    restored = json.loads(run("snapshot", "restore", "latest", "--json", "--yes").stdout)
    assert restored == {
        "snapshot_id": first["id"],
        "user_id": None,
        "restored": 3,
        "reembedded": False,
    }
    assert _memories(run, "alice") == ["Alice drinks green tea", "Alice lives in Oslo"]
    assert _memories(run, "bob") == ["Bob rides a bike"]

    second = json.loads(run("snapshot", "create", "--json").stdout)
    assert [s["id"] for s in json.loads(run("snapshot", "list", "--json").stdout)] == [
        second["id"],
        first["id"],
    ]
    assert json.loads(run("snapshot", "prune", "--keep", "1", "--json", "--yes").stdout) == {
        "deleted": [first["id"]]
    }
    assert "Deleted snapshot" in run("snapshot", "delete", second["id"], "--yes").stdout
    assert json.loads(run("snapshot", "list", "--json").stdout) == []
    assert "No snapshots yet" in run("snapshot", "list").stdout


def test_one_user(run):
    export = json.loads(run("snapshot", "create", "--user", "alice", "--json").stdout)
    assert export["counts"] == {"alice": 2} and export["user_id"] == "alice"
    run("add", "-u", "alice", "Alice moved to Bergen")
    run("add", "-u", "bob", "Bob sold the bike")
    out = run("snapshot", "restore", "--user", "alice", "--yes").stdout
    assert out.strip() == f"Restored 2 memories for 'alice' from {export['id']}."
    assert _memories(run, "alice") == ["Alice drinks green tea", "Alice lives in Oslo"]
    assert _memories(run, "bob") == ["Bob rides a bike", "Bob sold the bike"]


def test_a_damaged_snapshot_is_refused_in_one_line(run):
    ref = json.loads(run("snapshot", "create", "--json").stdout)
    tar = Path("snapshots") / f"{ref['id']}.tar"
    raw = bytearray(tar.read_bytes())
    raw[len(raw) // 2] ^= 1
    tar.write_bytes(bytes(raw))
    run("add", "-u", "carol", "Carol arrived later")
    result = run("snapshot", "restore", ref["id"], "--yes", code=1)
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Snapshot {ref['id']} is corrupt: the archive's SHA-256 does not match its manifest."
    )
    assert _memories(run, "carol") == ["Carol arrived later"]


def test_restore_an_archive_file_and_refuse_a_foreign_one(run, tmp_path):
    ref = json.loads(run("snapshot", "create", "--json").stdout)
    archive = tmp_path / "copy.tar"
    archive.write_bytes((Path("snapshots") / f"{ref['id']}.tar").read_bytes())
    run("forget-user", "-u", "bob", "--yes")
    assert (
        "Restored 3 memories" in run("snapshot", "restore", "--file", str(archive), "--yes").stdout
    )
    assert _memories(run, "bob") == ["Bob rides a bike"]
    foreign = tmp_path / "notes.txt"
    foreign.write_text("just some notes\n" * 100)
    result = run("snapshot", "restore", "--file", str(foreign), "--yes", code=1)
    assert "is truncated or not a snapshot archive" in result.stderr


def test_unknown_snapshots_and_missing_latest(run):
    assert "No snapshot 'nope'" in run("snapshot", "delete", "nope", "--yes", code=1).stderr
    assert "No snapshot of all users yet" in run("snapshot", "restore", "--yes", code=1).stderr
    assert (
        "Invalid snapshot id '../x'" in run("snapshot", "restore", "../x", "--yes", code=1).stderr
    )


def test_restore_without_a_terminal_needs_yes_and_changes_nothing(run):
    run("snapshot", "create", "--user", "alice")
    run("add", "-u", "alice", "Alice moved to Bergen")
    refused = run("snapshot", "restore", "--user", "alice", code=1)
    assert "pass --yes" in refused.stderr and "alice" in refused.stderr
    assert _memories(run, "alice") == [
        "Alice drinks green tea",
        "Alice lives in Oslo",
        "Alice moved to Bergen",
    ]


def test_create_quiet_prints_the_id_alone(run):
    quiet = run("snapshot", "create", "--quiet").stdout.strip()
    listed = json.loads(run("snapshot", "list", "--json").stdout)
    assert [s["id"] for s in listed] == [quiet]
    assert "each scope" in run("snapshot", "prune", "--help").stdout
