"""A restore killed half-way (SIGKILL, in a real subprocess) leaves no half state behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from llm_memory.manager import MemoryManager
from llm_memory.snapshot.engine import Snapshots
from llm_memory.storage import MemoryFilter

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fcntl")

RESTORER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from llm_memory.manager import MemoryManager
    from llm_memory.snapshot.engine import Snapshots

    root, stall, backend = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    manager = MemoryManager.from_settings(
        storage_backend=backend,
        vector_store_dir=root / "db",
        snapshot_dir=root / "snapshots",
        hybrid_search=False,
    )

    def progress(phase, done, total):
        print(phase, done, total, flush=True)
        if phase == stall and 0 < done < total:
            time.sleep(60)  # the test kills us here

    Snapshots(manager).restore(progress=progress)
    print("finished", flush=True)
    """
)


def open_manager(root: Path, backend: str) -> MemoryManager:
    return MemoryManager.from_settings(
        storage_backend=backend,
        vector_store_dir=root / "db",
        snapshot_dir=root / "snapshots",
        hybrid_search=False,
    )


def open_unrecovered(root: Path, backend: str) -> MemoryManager:
    """The store as a crash left it: built without ``from_settings``, which would recover."""
    from llm_memory.plugins import build
    from llm_memory.settings import load_settings

    settings = load_settings(
        storage_backend=backend, vector_store_dir=root / "db", snapshot_dir=root / "snapshots"
    )
    store = build("storage", backend, settings)
    return MemoryManager(store, build("embedder", "hash", settings), settings=settings)


def state(manager: MemoryManager) -> dict:
    out = {}
    for user in manager.store.users():
        items = manager.store.list(MemoryFilter(user_id=user), limit=10_000)
        vectors = manager.store.get_vectors(user, [i.id for i in items])
        for item in items:
            vector = np.round(np.asarray(vectors[item.id]), 5).tobytes()
            out[(user, item.id)] = (item.model_dump_json(), vector)
    return out


def prepare(root: Path, backend: str) -> tuple[dict, dict]:
    """A snapshot S (alice in 4 parts, bob), then a different present state P."""
    with open_manager(root, backend) as m:
        m.write_memories(
            [{"user_id": "alice", "content": f"alice old fact {i}"} for i in range(12)]
        )
        m.write_memories([{"user_id": "bob", "content": f"bob old fact {i}"} for i in range(5)])
        Snapshots(m, page=3).create()
        snapshot_state = state(m)
        m.forget_user("alice")
        m.write_memories([{"user_id": "alice", "content": f"alice new fact {i}"} for i in range(8)])
        m.write_memories([{"user_id": "carol", "content": f"carol fact {i}"} for i in range(3)])
        present_state = state(m)
    return snapshot_state, present_state


def kill_restore_during(root: Path, phase: str, backend: str) -> None:
    """Run a restore in a subprocess and SIGKILL it in the middle of ``phase``."""
    script = root / "restorer.py"
    script.write_text(RESTORER)
    argv = [sys.executable, str(script), str(root), phase, backend]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=root)
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.strip())
            name, done, total = [*line.split(), "0", "0"][:3]
            if name == phase and 0 < int(done) < int(total):
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, seen


def journal_dirs(root: Path) -> list[Path]:
    journal = root / "snapshots" / ".journal"
    return [p for p in journal.iterdir() if p.is_dir()] if journal.exists() else []


@pytest.fixture(autouse=True)
def _small_vectors(monkeypatch):
    monkeypatch.setenv("HASH_DIMENSION", "64")  # the subprocess inherits it


@pytest.mark.parametrize("backend", ["memory", "lancedb"])
def test_killed_while_applying_is_rolled_forward_on_next_open(tmp_path, backend):
    snapshot_state, present_state = prepare(tmp_path, backend)
    kill_restore_during(tmp_path, "apply", backend)
    with open_unrecovered(tmp_path, backend) as m:
        half = state(m)
        assert half != snapshot_state and half != present_state  # really killed half-way
        assert journal_dirs(tmp_path), "the committed plan must survive the crash"
    with open_manager(tmp_path, backend) as m:  # the next process to open the store finishes it
        assert state(m) == snapshot_state
    assert journal_dirs(tmp_path) == []
    with open_manager(tmp_path, backend) as m:  # and it stays done
        assert Snapshots(m).recover() is None
        assert state(m) == snapshot_state


def test_killed_before_the_store_was_touched_changes_nothing(tmp_path):
    _, present_state = prepare(tmp_path, "memory")
    db = tmp_path / "db" / "memory_store.json"
    before = db.read_bytes()
    kill_restore_during(tmp_path, "verify", "memory")
    assert db.read_bytes() == before
    with open_unrecovered(tmp_path, "memory") as m:
        assert Snapshots(m).recover() == "discarded"
        assert state(m) == present_state
    assert journal_dirs(tmp_path) == []


def test_a_roll_forward_that_cannot_complete_rolls_back(tmp_path):
    _, present_state = prepare(tmp_path, "memory")
    kill_restore_during(tmp_path, "apply", "memory")
    [journal] = journal_dirs(tmp_path)
    part = next((journal / "target" / "parts").glob("*.npy"))
    part.write_bytes(part.read_bytes()[:-8])  # the staged snapshot is damaged on disk
    with open_unrecovered(tmp_path, "memory") as m:
        assert Snapshots(m).recover() == "rolled back"
        assert state(m) == present_state
    assert journal_dirs(tmp_path) == []


def test_the_next_command_says_it_is_finishing_an_interrupted_restore_while_it_does(tmp_path):
    snapshot_state, _ = prepare(tmp_path, "memory")
    kill_restore_during(tmp_path, "apply", "memory")
    env = {
        **os.environ,
        "STORAGE_BACKEND": "memory",
        "VECTOR_STORE_DIR": str(tmp_path / "db"),
        "SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "HYBRID_SEARCH": "false",
    }
    argv = [sys.executable, "-m", "llm_memory.cli", "stats", "--json"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # said before the roll-forward finishes, not after
    assert first.startswith("Finishing the interrupted restore of snapshot "), first
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    assert json.loads(out)["total"] == len(snapshot_state)
    assert "Done: the interrupted restore of snapshot " in rest and "rolled forward" in rest
    assert journal_dirs(tmp_path) == []
    with open_manager(tmp_path, "memory") as m:
        assert state(m) == snapshot_state


def test_a_long_recovery_reports_its_progress(tmp_path, monkeypatch, caplog):
    import logging

    from llm_memory.snapshot import engine

    snapshot_state, _ = prepare(tmp_path, "memory")
    kill_restore_during(tmp_path, "apply", "memory")
    monkeypatch.setattr(engine, "REPORT_EVERY", 0.0)  # a line per part, instead of every 5 s
    with (
        caplog.at_level(logging.WARNING, "llm_memory.snapshot"),
        open_manager(tmp_path, "memory") as m,
    ):
        assert state(m) == snapshot_state
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("Finishing the interrupted restore of snapshot ")
    assert any(line.endswith(f"of {len(snapshot_state)} memories applied...") for line in lines)
    assert lines[-1].endswith("was rolled forward.")
