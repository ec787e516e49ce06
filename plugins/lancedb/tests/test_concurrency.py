"""Many writers on one table: threads, processes, and stores on S3 (moto). Nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore

INFO = EmbedderInfo(name="test", model="tiny", dimension=4)
WRITES = 12  # per writer, one commit each


def write_many(store: LanceDBStore, writer: int, writes: int = WRITES) -> None:
    """One writer's work: single-memory upserts, of its own memories and of memories every
    writer writes (same ids), then updates and deletes of its own."""
    for n in range(writes):
        memory = MemoryItem(
            id=f"w{writer}-{n}", user_id=f"user{writer % 2}", content=f"w{writer} n{n}"
        )
        store.upsert([memory], [[1.0, float(writer), float(n), 1.0]])
        shared = MemoryItem(id=f"s{n}", user_id="everyone", content=f"shared {n} by {writer}")
        store.upsert([shared], [[0.0, 1.0, float(n), float(writer)]])
    user = f"user{writer % 2}"
    kept = store.get(user, [f"w{writer}-{n}" for n in range(0, writes, 2)])
    store.update([m.model_copy(update={"access_count": 7}) for m in kept])
    assert store.delete(user, [f"w{writer}-{n}" for n in range(1, writes, 2)]) == writes // 2


def check(store: LanceDBStore, writers: int, writes: int = WRITES) -> None:
    assert store.count("everyone") == writes  # one row per shared id, however many wrote it
    assert store.count() == writers * writes // 2 + writes
    for writer in range(writers):
        user = f"user{writer % 2}"
        got = store.get(user, [f"w{writer}-{n}" for n in range(writes)])
        assert [m.id for m in got] == [f"w{writer}-{n}" for n in range(0, writes, 2)]
        assert {m.access_count for m in got} == {7}
        hits = store.keyword_query(f"w{writer}", MemoryFilter(user), k=writes)
        assert len(hits) == writes // 2


def run_threads(work: Callable[[int], None], count: int) -> None:
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_four_threads_share_one_store(tmp_path) -> None:
    store = LanceDBStore(tmp_path / "db", "m")
    store.set_embedding_info(INFO)
    run_threads(lambda n: write_many(store, n), 4)
    check(store, 4)
    store.close()


def test_four_threads_with_a_store_each(tmp_path) -> None:
    stores = [LanceDBStore(tmp_path / "db", "m") for _ in range(4)]
    stores[0].set_embedding_info(INFO)
    run_threads(lambda n: write_many(stores[n], n), 4)
    for store in stores:  # each sees every other's writes (read consistency 0)
        check(store, 4)
        store.close()


def test_writers_racing_to_insert_the_same_new_memories_store_each_once(tmp_path) -> None:
    """Four stores insert the same new (user, id) keys at the same moments. As the table's
    primary key, the key column lets lance see the clash and turn the loser into an
    update; keyed on two columns, lancedb 0.40 would keep every copy."""
    stores = [LanceDBStore(tmp_path / "db", "m") for _ in range(4)]
    stores[0].set_embedding_info(INFO)
    barrier = threading.Barrier(4)

    def race(writer: int) -> None:
        for n in range(10):
            barrier.wait()
            memory = MemoryItem(id=f"same-{n}", user_id="u", content=f"from {writer}")
            stores[writer].upsert([memory], [[1.0, float(writer), 0.0, 0.0]])

    run_threads(race, 4)
    assert stores[0].count() == 10
    assert len(stores[0].list(MemoryFilter("u"), limit=100)) == 10
    for store in stores:
        store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from llm_memory_lancedb.store import LanceDBStore
    from llm_memory.models import EmbedderInfo
    sys.path.insert(0, sys.argv[3])
    from test_concurrency import write_many, INFO
    store = LanceDBStore(sys.argv[1], "m")
    if store.embedding_info() is None:
        store.set_embedding_info(INFO)  # both processes may race to create the table
    write_many(store, int(sys.argv[2]))
    store.close()
    """
)


def test_two_processes_write_one_local_table(tmp_path) -> None:
    uri = str(tmp_path / "db")
    here = str(__import__("pathlib").Path(__file__).parent)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, str(n), here],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    store = LanceDBStore(uri, "m")
    check(store, 2)
    store.close()


@pytest.mark.server
def test_stores_on_s3_see_each_other_and_lose_nothing(s3_options) -> None:
    options = s3_options()  # read_consistency_seconds=0: every read sees the latest commit
    assert options.uri is not None
    stores = [LanceDBStore(options.uri, "m", options) for _ in range(4)]
    stores[0].set_embedding_info(INFO)
    first = MemoryItem(id="hello", user_id="user0", content="hello from store 0")
    stores[0].upsert([first], [[1.0, 0.0, 0.0, 0.0]])
    assert stores[3].get("user0", ["hello"]) == [first]  # opened before the table existed
    stores[0].delete("user0", ["hello"])
    assert stores[2].count() == 0

    run_threads(lambda n: write_many(stores[n], n, writes=4), 4)  # moto is slow per request
    check(stores[1], 4, writes=4)
    for store in stores:
        store.close()
    cleanup = LanceDBStore(options.uri, "m", options)
    cleanup.clear()
    cleanup.close()


def test_a_reader_sees_another_process_writes_at_once(tmp_path) -> None:
    uri = str(tmp_path / "db")
    reader = LanceDBStore(uri, "m")
    assert reader.count() == 0
    here = str(__import__("pathlib").Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", WRITER, uri, "5", here], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert reader.count() == WRITES // 2 + WRITES
    assert reader.embedding_info() == INFO
    stale = LanceDBStore(uri, "m", LanceDBOptions(read_consistency_seconds=None))
    assert stale.count() == WRITES // 2 + WRITES  # opened after the writes
    stale.close()
    reader.close()


def test_access_recorded_by_racing_stores_loses_no_increment(tmp_path) -> None:
    """``record_access`` increments in place: four stores (as four processes would) each
    record 5 accesses of the same memories, and all 20 count."""
    first = LanceDBStore(tmp_path / "db", "m")
    first.set_embedding_info(INFO)
    shared = [MemoryItem(id=f"m{n}", user_id="alice", content=f"memory {n}") for n in range(3)]
    first.upsert(shared, [[1.0, 0.0, float(n), 1.0] for n in range(3)])
    stores = [first] + [LanceDBStore(tmp_path / "db", "m") for _ in range(3)]
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def record(n: int) -> None:
        for repeat in range(5):
            when = at + timedelta(minutes=n * 5 + repeat)
            stores[n].record_access({("alice", m.id): (1, when) for m in shared})

    run_threads(record, len(stores))
    got = first.get("alice", [m.id for m in shared])
    assert [m.access_count for m in got] == [20, 20, 20]
    assert {m.last_accessed_at for m in got} == {at + timedelta(minutes=19)}
    assert [m.content for m in got] == [m.content for m in shared]
    for store in stores:
        store.close()


RACER = textwrap.dedent(
    """
    import sys, time
    from llm_memory.models import MemoryItem
    from llm_memory_lancedb.options import LanceDBOptions
    from llm_memory_lancedb.store import LanceDBStore
    uri, writer, start, rounds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    store = LanceDBStore(uri, "m", LanceDBOptions(optimize_every=1))
    store.count()
    for r in range(rounds):
        while time.time() < start + r * 0.08:  # both processes write round r at once
            pass
        same = [MemoryItem(id=f"same{n:02d}", user_id=f"u{r}", content=f"same {n}") for n in range(20)]
        store.upsert(same, [[1.0, float(n), 0.0, float(writer)] for n in range(20)])
    store.wait_for_index()
    store.close()
    """
)


def test_two_processes_inserting_the_same_new_memories_during_optimizes_store_each_once(
    tmp_path,
) -> None:
    """Issue 13: two processes write the same 20 new ids (per user, 40 users, a batch
    each at the same moment) while each runs a background optimize after every write.
    Each user holds exactly 20 rows. Through the key's index, lance let both inserts of a
    key commit (21-40 rows for a user, in about half the runs)."""
    uri, rounds = str(tmp_path / "db"), 40
    setup = LanceDBStore(uri, "m")
    setup.set_embedding_info(INFO)
    setup.upsert(
        [MemoryItem(id=f"old{n}", user_id="old", content=f"old {n}") for n in range(50)],
        [[1.0, 0.0, 0.0, float(n)] for n in range(50)],
    )
    setup.optimize()  # the key index covers the table from the start
    setup.close()
    start = __import__("time").time() + 3  # both processes up before the first round
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, str(n), str(start), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
    store = LanceDBStore(uri, "m")
    rows = store._table().to_arrow().select(["user_id", "id"]).to_pylist()
    per_user: dict[str, int] = {}
    for row in rows:
        per_user[row["user_id"]] = per_user.get(row["user_id"], 0) + 1
    assert {user: n for user, n in per_user.items() if n != 20 and user != "old"} == {}
    for r in range(rounds):
        assert store.count(f"u{r}") == 20
        assert len(store.list(MemoryFilter(f"u{r}"), limit=100)) == 20
    assert store.count() == 20 * rounds + 50
    store.close()


def test_a_commit_that_keeps_conflicting_fails_in_one_line_naming_the_setting(tmp_path) -> None:
    """Conflicts are retried through llm_memory.retry, ``write_retries`` times; then
    StoreBusy names LANCEDB_WRITE_RETRIES. Other errors pass through at once."""
    from llm_memory.errors import StoreBusy

    store = LanceDBStore(tmp_path / "db", "m", LanceDBOptions(write_retries=2))
    attempts: list[int] = []

    def conflicting() -> None:
        attempts.append(1)
        raise RuntimeError("lance error: Retryable commit conflict for version 7")

    with pytest.raises(StoreBusy, match=r"after 3 attempts.*LANCEDB_WRITE_RETRIES") as failed:
        store._retry(conflicting)
    assert len(attempts) == 3 and "\n" not in str(failed.value)

    def broken() -> None:
        attempts.append(1)
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        store._retry(broken)
    assert len(attempts) == 4
    store.close()


def test_an_optimize_whose_compaction_lost_its_race_runs_again(tmp_path, monkeypatch) -> None:
    """lance drops a compaction that lost its commit race with a log line and returns
    normally; small fragments that were there and none removed means: run it again."""
    from types import SimpleNamespace

    from llm_memory_lancedb import store as module

    removed = [0, 0, 3]  # what each optimize's compaction removed
    calls: list[int] = []

    class Fake:
        async def stats(self) -> dict:
            return {"fragment_stats": {"num_small_fragments": 4}}

        async def optimize(self) -> SimpleNamespace:
            calls.append(1)
            return SimpleNamespace(compaction=SimpleNamespace(fragments_removed=removed.pop(0)))

    monkeypatch.setattr(module, "_async_table", lambda table: Fake())
    store = LanceDBStore(tmp_path / "db", "m")
    store._optimize(object())
    assert len(calls) == 3  # two lost compactions, then one that removed fragments
    store.close()
