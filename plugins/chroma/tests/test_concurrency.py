"""Threads share a store; processes share a server, never an embedded directory."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from llm_memory.errors import LLMMemoryError
from llm_memory.storage import MemoryFilter
from llm_memory_chroma import dirlock
from llm_memory_chroma.dirlock import ChromaDirectoryLocked
from llm_memory_chroma.store import ChromaStore
from llm_memory_testing.storage import INFO, item, vec

THREADS, WRITES = 4, 25


def spread(i: int) -> list[float]:
    """Write ``i``'s vector: ``WRITES`` directions 14° apart on a circle. (``vec(1, n, i)``
    made neighbours nearly parallel, cosine 0.99995, and approximate search may pick either.)"""
    angle = 2 * math.pi * i / WRITES
    return vec(math.cos(angle), math.sin(angle))


# A second process: opens the embedded store and writes one memory ("ready"), closes it on
# the first line it reads ("closed"), opens it again on the next ("ready"), then waits.
HOLDER = textwrap.dedent(
    """
    import sys
    from llm_memory_testing.storage import INFO, item, vec
    from llm_memory_chroma.store import ChromaStore
    store = ChromaStore("memories", path=sys.argv[1])
    store.set_embedding_info(INFO)
    store.upsert([item(7, "other-process")], [vec(1)])
    print("ready", flush=True)
    sys.stdin.readline()
    store.close()
    print("closed", flush=True)
    sys.stdin.readline()
    store = ChromaStore("memories", path=sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture(params=["embedded", "http"])
def open_store(request, tmp_path) -> Iterator[Callable[[], ChromaStore]]:
    """Opens stores on one embedded directory, or on one collection of the test server."""
    opened: list[ChromaStore] = []
    if request.param == "embedded":
        make = lambda: ChromaStore("memories", path=tmp_path / "db")  # noqa: E731
    else:
        server = request.getfixturevalue("chroma_http")
        name = f"threads-{uuid.uuid4().hex[:8]}"
        make = lambda: ChromaStore(name, host=server.host, port=server.port)  # noqa: E731

    def opener() -> ChromaStore:
        opened.append(make())
        return opened[-1]

    yield opener
    if request.param == "http":
        opened[0]._client.delete_collection(opened[0].collection_name)
    for store in opened:
        store.close()


def visible(store: ChromaStore, memory_id: str, vector: list[float], user: str) -> bool:
    """The write is the nearest to its own vector, within a second: a Chroma server applies
    writes to its vector index asynchronously (seen: a query right after an acknowledged
    upsert returned the previous write under concurrent writers)."""
    deadline = time.monotonic() + 1.0
    while True:
        if store.query(vector, MemoryFilter(user), k=1)[0].item.id == memory_id:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_threads_writing_at_once_lose_nothing(open_store) -> None:
    store = open_store()
    store.set_embedding_info(INFO)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(WRITES):
                memory = item(i, f"user-{n}", content=f"thread {n} write {i}")
                store.upsert([memory], [spread(i)])
                assert visible(store, memory.id, spread(i), f"user-{n}")
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == THREADS * WRITES
    assert store.users() == [f"user-{n}" for n in range(THREADS)]
    for n in range(THREADS):
        assert [m.id for m in store.list(MemoryFilter(f"user-{n}"), limit=WRITES)] == [
            f"m{i}" for i in range(WRITES)
        ]


def test_data_survives_close_and_reopen(open_store) -> None:
    store = open_store()
    store.set_embedding_info(INFO)
    store.upsert([item(1, session_id="s", metadata={"k": 1}), item(2, "bob")], [vec(1), vec(0, 1)])
    store.close()
    again = open_store()
    assert again.embedding_info() == INFO
    assert again.get("alice", ["m1"]) == [item(1, session_id="s", metadata={"k": 1})]
    assert again.get_vectors("bob", ["m2"])["m2"] == pytest.approx(vec(0, 1))


def test_two_stores_in_one_process_share_a_directory(tmp_path, monkeypatch) -> None:
    """Two stores in one process share the lock and chromadb's per-directory system, however
    the path is spelled."""
    monkeypatch.chdir(tmp_path)
    first = ChromaStore("memories", path="db")
    second = ChromaStore("memories", path=tmp_path / "sub" / ".." / "db")
    first.set_embedding_info(INFO)
    first.upsert([item(1)], [vec(1)])
    assert [h.item.id for h in second.query(vec(1), MemoryFilter("alice"), k=1)] == ["m1"]
    first.close()
    second.upsert([item(2)], [vec(0, 1)])
    assert second.count() == 2
    second.close()
    assert not dirlock._held


def test_a_second_process_is_refused_while_the_first_has_the_directory(tmp_path) -> None:
    """chromadb 1.5's embedded mode is not multi-process safe (see dirlock), so a second
    process gets a one-line error naming the holder and the fix, until the first closes
    the store or dies (even by SIGKILL: the OS drops the lock)."""
    path = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def tell(line: str) -> str:
        holder.stdin.write(line + "\n")
        holder.stdin.flush()
        return holder.stdout.readline().strip()

    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ChromaDirectoryLocked) as refused:
            ChromaStore("memories", path=path)
        message = str(refused.value)
        python = os.path.basename(sys.executable)
        assert message.startswith(
            f"Chroma at {path} is open in another process (pid {holder.pid}: `{python} -c "
        ), message  # the holder's command line, so one knows which process to stop
        assert message.endswith(
            "): stop that process, or, if it is `llm-memory serve`, run this command through "
            "it with --url http://HOST:PORT (or LLM_MEMORY_URL); for several processes on one "
            f"store, run `chroma run --path {path}` and set CHROMA_HOST."
        ), message
        assert "\n" not in message
        assert not dirlock._held  # the refused open holds nothing
        assert tell("close") == "closed"
        with ChromaStore("memories", path=path) as store:
            assert [m.user_id for m in store.list(MemoryFilter("other-process"))] == [
                "other-process"
            ]
        assert tell("open again") == "ready"
        with pytest.raises(ChromaDirectoryLocked):
            ChromaStore("memories", path=path)
    finally:
        holder.kill()  # SIGKILL: no close(), no cleanup
        holder.wait()
    assert (path / dirlock.LOCK_NAME).read_text().strip() == str(holder.pid)
    with ChromaStore("memories", path=path) as store:
        assert store.count("other-process") == 1


def test_a_store_inherited_through_fork_refuses_to_run(tmp_path, monkeypatch) -> None:
    store = ChromaStore("memories", path=tmp_path / "db")
    try:
        monkeypatch.setattr(store, "_pid", os.getpid() + 1)  # as a forked child would see it
        with pytest.raises(LLMMemoryError, match="before a fork"):
            store.count()
    finally:
        monkeypatch.undo()
        store.close()
