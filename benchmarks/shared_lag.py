"""Visibility lag between two API processes sharing one store (a Chroma server).

A real ``chroma run`` server and two ``llm-memory serve`` processes over it (each with its
own ``VECTOR_STORE_DIR``, so its own core keyword index), the ``hash`` embedder. Then
``--writes`` times, alternately through A and through B: one memory holding a made-up word
is written through one server, and the other server is searched for that word every
``--poll`` seconds until a keyword match returns it. The lag is the time from the
write's acknowledgement to the start of the first search that found it by keyword (what
the bound is about: a search started the interval after it finds it); the time to that
search's answer is printed too. Between writes, a random pause (up to the interval) in
which both servers are searched continuously: they pull on their own schedule, as servers
under traffic do, and the writes fall anywhere in it. Then ``--deletes`` of those
memories are deleted through one server and searched for at once through the other: each
one returned is a resurrection (there must be none).

The cost of a pull: two managers in this process on a fresh collection; ``--searches``
rounds of a write through A, then a pull by B (what a search does once per interval) and
a search through B, each timed: the ratio of their p50s.

    .venv/bin/python benchmarks/shared_lag.py                      # 40 writes, interval 1 s
    .venv/bin/python benchmarks/shared_lag.py --interval 0.25 --writes 100

Prints lag p50/p95/max against the bound, resurrections, and a pull's cost against a
search's. Exits 1 when a lag exceeds the bound (plus ``--slack``, default 0.1 s, for the
clocks and a loaded machine) or a deleted memory comes back.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import string
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from llm_memory_testing.servers import chroma_server, free_port, run_server

BIN = Path(sys.executable).parent


def word(n: int) -> str:
    letters, n = "", n + 26**3
    while n:
        n, r = divmod(n, 26)
        letters = string.ascii_lowercase[r] + letters
    return "zq" + letters


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@contextlib.contextmanager
def two_servers(chroma, here: Path, interval: float) -> Iterator[tuple[httpx.Client, ...]]:
    collection = f"lag-{random.randrange(16**8):08x}"
    with contextlib.ExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            port = free_port()
            env = {
                "STORAGE_BACKEND": "chroma",
                "CHROMA_HOST": chroma.host,
                "CHROMA_PORT": str(chroma.port),
                "COLLECTION": collection,
                "VECTOR_STORE_DIR": str(here / f"{collection}-{name}"),
                "KEYWORD_SYNC_INTERVAL_S": str(interval),
            }
            argv = [str(BIN / "llm-memory"), "serve", "--port", str(port), "--log-level", "warning"]
            server = stack.enter_context(run_server(argv, port, "/healthz", env=env))
            clients.append(stack.enter_context(httpx.Client(base_url=server.url, timeout=60)))
        yield tuple(clients)


def found_by_keyword(client: httpx.Client, user: str, query: str, memory_id: str) -> bool:
    body = {"user_id": user, "query": query, "limit": 5, "min_relevance": 0}
    hits = client.post("/memories/search", json=body).json()
    return any(h["memory"]["id"] == memory_id and "keyword" in h["sources"] for h in hits)


def busy(a: httpx.Client, b: httpx.Client, user: str, seconds: float, poll: float) -> None:
    """Search both servers, one after the other, for ``seconds``: each keeps pulling at its
    interval, as a server under traffic does (an idle one pulls at its next search)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        for client in (a, b):
            body = {"user_id": user, "query": "noted", "limit": 5}
            client.post("/memories/search", json=body).raise_for_status()
        time.sleep(poll)


def pull_cost(chroma, here: Path, writes: int, rounds: int) -> tuple[float, float]:
    """p50 of one pull and of one search, interleaved in one process (the machine's load
    weighs on both alike): two managers on one collection, A writing one memory per round,
    B pulling (forced) and searching."""
    from llm_memory import MemoryManager

    settings = {
        "storage_backend": "chroma",
        "chroma": {"host": chroma.host, "port": chroma.port},
        "collection": f"cost-{random.randrange(16**8):08x}",
        "keyword_sync_interval_s": 3600.0,  # B pulls only when told here
    }
    user = "ada"
    with (
        MemoryManager.from_settings(**settings, vector_store_dir=str(here / "cost-a")) as a,
        MemoryManager.from_settings(**settings, vector_store_dir=str(here / "cost-b")) as b,
    ):
        a.write_memories({"content": f"noted {word(n)}", "user_id": user} for n in range(writes))
        pulls, searches = [], []
        for n in range(rounds):
            a.write_memory(f"noted {word(writes + n)}", user)
            start = time.perf_counter()
            b.keyword_index.catch_up(force=True)
            pulls.append(time.perf_counter() - start)
            start = time.perf_counter()
            b.retrieve(f"noted {word(n)}", user, limit=10)
            searches.append(time.perf_counter() - start)
        return percentile(pulls, 0.5), percentile(searches, 0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--deletes", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="KEYWORD_SYNC_INTERVAL_S")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between searches")
    parser.add_argument("--slack", type=float, default=0.1, help="allowed beyond the bound")
    parser.add_argument("--searches", type=int, default=100, help="rounds of the pull cost")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    user = "ada"
    with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp) / "chroma") as chroma:
        with two_servers(chroma, Path(tmp), args.interval) as (a, b):
            lags: list[float] = []  # to the start of the first search that found it
            answered: list[float] = []  # to its answer
            written: list[tuple[str, str, int]] = []  # id, word, the writer (0: a, 1: b)
            for n in range(args.writes):
                source, other = (a, b) if n % 2 == 0 else (b, a)
                w = word(n)
                got = source.post("/memories", json={"user_id": user, "content": f"noted {w}"})
                got.raise_for_status()
                acked = time.perf_counter()
                memory_id = got.json()["id"]
                while True:
                    asked = time.perf_counter()
                    if found_by_keyword(other, user, w, memory_id):
                        break
                    time.sleep(args.poll)
                lags.append(asked - acked)
                answered.append(time.perf_counter() - acked)
                written.append((memory_id, w, n % 2))
                busy(a, b, user, rng.uniform(0, args.interval), args.poll)
            resurrected = 0
            for memory_id, w, by in written[: args.deletes]:
                source, other = (a, b) if by == 0 else (b, a)
                assert source.delete(f"/users/{user}/memories/{memory_id}").status_code == 204
                body = {"user_id": user, "query": w, "limit": 50, "min_relevance": 0}
                hits = other.post("/memories/search", json=body).json()
                resurrected += any(h["memory"]["id"] == memory_id for h in hits)
            stats = b.get("/stats").json()
        pull, search = pull_cost(chroma, Path(tmp), args.writes, args.searches)

    bound = args.interval
    print(f"keyword index (b): {stats['keyword_index']}")
    print(
        f"visibility lag over {len(lags)} writes, KEYWORD_SYNC_INTERVAL_S={bound:g}: "
        f"p50 {percentile(lags, 0.5):.3f} s, p95 {percentile(lags, 0.95):.3f} s, "
        f"max {max(lags):.3f} s (bound {bound:g} s, polled every {args.poll:g} s); "
        f"to the answer: p50 {percentile(answered, 0.5):.3f} s, "
        f"p95 {percentile(answered, 0.95):.3f} s, max {max(answered):.3f} s"
    )
    print(f"deleted through one, returned by the other at once: {resurrected} of {args.deletes}")
    print(
        f"one pull: p50 {pull * 1000:.1f} ms, against a search's p50 {search * 1000:.1f} ms "
        f"(x{pull / search:.2f}), at most once per {bound:g} s per process"
    )
    failed = max(lags) > bound + args.slack or resurrected
    if failed:
        print("FAILED: a lag beyond the bound, or a deleted memory returned", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
