"""Scheduled snapshots: the reusable loop, the background thread for serve, and the CLI."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from click.testing import CliRunner
from llm_memory.cli import cli
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ValidationFailed
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.snapshot.engine import Snapshots
from llm_memory.snapshot.schedule import run_schedule, start_schedule
from llm_memory.storage.memory import MemoryStore

TINY = 0.5 / 3600  # half a second, in hours


@pytest.fixture
def manager(tmp_path):
    settings = load_settings(
        snapshot_dir=tmp_path / "snaps", snapshot_interval=TINY, snapshot_keep=2
    )
    m = MemoryManager(MemoryStore(), HashEmbedder(dimension=32), settings=settings)
    m.write_memory("scheduled memories are kept", "alice")
    yield m
    m.close()


def test_the_loop_snapshots_on_schedule_and_prunes_after_each(manager):
    taken = []
    start = time.monotonic()
    count = run_schedule(
        manager,
        TINY,
        keep=2,
        on_snapshot=lambda ref, pruned: taken.append((ref.id, pruned)),
        max_snapshots=3,
    )
    elapsed = time.monotonic() - start
    assert count == 3 and 0.9 < elapsed < 10  # the first at once, then every half second
    assert [p for _, p in taken] == [[], [], [taken[0][0]]]
    assert [r.id for r in Snapshots(manager).list()] == [taken[2][0], taken[1][0]]


def test_the_first_snapshot_is_due_an_interval_after_the_newest(manager):
    Snapshots(manager).create()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert run_schedule(manager, 1.0, stop_event=stop) == 0


def test_a_failed_snapshot_is_logged_and_retried(manager, monkeypatch, caplog):
    snapshots = Snapshots(manager)
    real, calls = snapshots.create, []

    def create(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("bucket on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshots, "create", create)
    with caplog.at_level(logging.ERROR, logger="llm_memory.snapshot"):
        assert run_schedule(manager, TINY, max_snapshots=1, snapshots=snapshots) == 1
    assert len(calls) == 2
    assert "scheduled snapshot failed: bucket on fire" in caplog.text


def test_bad_schedules_are_refused(manager):
    with pytest.raises(ValidationFailed, match="interval must be positive"):
        run_schedule(manager, 0)
    with pytest.raises(ValidationFailed, match="keep must be at least 1"):
        start_schedule(manager, 1.0, keep=0)


def test_serve_starts_the_schedule_from_settings(manager, tmp_path):
    handle = start_schedule(manager)
    assert handle is not None
    deadline = time.monotonic() + 10
    while not Snapshots(manager).list() and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.stop()
    assert not handle.thread.is_alive()
    assert len(Snapshots(manager).list()) >= 1
    unscheduled = MemoryManager(MemoryStore(), HashEmbedder(dimension=32), settings=load_settings())
    assert start_schedule(unscheduled) is None


def test_the_schedule_command(tmp_path, monkeypatch):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("HASH_DIMENSION", "32")
    runner = CliRunner()
    assert runner.invoke(cli, ["add", "-u", "alice", "a memory to keep"]).exit_code == 0
    result = runner.invoke(
        cli,
        ["snapshot", "schedule", "--interval", str(TINY), "--keep", "1", "--max-snapshots", "2"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Snapshot ") == 2 and "pruned 1" in result.stdout
    listed = json.loads(runner.invoke(cli, ["snapshot", "list", "--json"]).stdout)
    assert len(listed) == 1
    result = runner.invoke(cli, ["snapshot", "schedule"])
    assert (
        result.exit_code == 2 and "Give --interval HOURS or set SNAPSHOT_INTERVAL" in result.output
    )
