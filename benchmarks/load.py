"""Load: the HTTP API of a real ``llm-memory serve`` under concurrent async clients.

For each backend, a fresh server runs in a temporary directory on a free loopback port
(embedded Chroma, or local LanceDB; the ``hash`` embedder). It is filled with
``--prefill`` memories over ``--users`` users (``POST /memories/batch``), then ``--clients``
``httpx.AsyncClient`` tasks send requests for ``--duration`` seconds, each one a write
(``POST /memories``, a share ``--writes``) or a search (``POST /memories/search``, limit
10) for a random user. A tenth of the writes repeat an earlier content of the same user:
they must refresh that memory, not store it twice. Afterwards every user's memories are
listed and checked: each acknowledged write is stored exactly once (no acknowledged id
missing, no id twice, no content twice).

    .venv/bin/python benchmarks/load.py                                # 5 s, a quick look
    .venv/bin/python benchmarks/load.py --duration 30 --clients 16     # the issue's run

Prints requests/s, p50/p95/p99 per operation and the errors; writes ``load.md`` and
``load.json`` to ``--out`` (benchmarks/out/). Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from perf import _csv, sentences  # noqa: E402  (the same text and options as perf.py)

REPEAT_SHARE = 0.1  # of the writes: an earlier content of the same user again
LIMIT = 10


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    """What the clients did: latencies per operation, errors, acknowledged writes."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"write": [], "search": []}
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.acked: dict[str, dict[str, str]] = {}  # user -> id -> content

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{kind}: {detail[:300]}")


async def prefill(client: httpx.AsyncClient, users: list[str], count: int) -> dict[str, dict]:
    texts = sentences(count, seed=count)
    acked: dict[str, dict[str, str]] = {u: {} for u in users}
    body = [{"user_id": users[i % len(users)], "content": t} for i, t in enumerate(texts)]
    for start in range(0, len(body), 1000):
        response = await client.post("/memories/batch", json=body[start : start + 1000])
        response.raise_for_status()
        for item in response.json():
            acked[item["user_id"]][item["id"]] = item["content"]
    return acked


async def client_loop(
    client: httpx.AsyncClient,
    number: int,
    users: list[str],
    share: float,
    until: float,
    run: Run,
    texts: list[str],
    queries: list[str],
) -> None:
    rng = random.Random(number)
    written: dict[str, list[str]] = {}
    n = 0
    while time.perf_counter() < until:
        user = rng.choice(users)
        n += 1
        if rng.random() < share:
            kind = "write"
            mine = written.get(user)
            if mine and rng.random() < REPEAT_SHARE:
                content = rng.choice(mine)
            else:
                content = f"{rng.choice(texts)} (client {number}, write {n})"
                written.setdefault(user, []).append(content)
            request = ("/memories", {"user_id": user, "content": content, "importance": 0.6})
        else:
            kind = "search"
            request = ("/memories/search", {"user_id": user, "query": rng.choice(queries)})
            request[1]["limit"] = LIMIT
        start = time.perf_counter()
        try:
            response = await client.post(request[0], json=request[1])
        except httpx.HTTPError as exc:
            run.error(kind, f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - start
        if response.status_code >= 300:
            run.error(kind, f"HTTP {response.status_code}: {response.text}")
            continue
        run.latencies[kind].append(elapsed)
        if kind == "write":
            item = response.json()
            if item["content"] != content:
                run.error("write", f"stored {item['content']!r} for {content!r}")
            run.acked.setdefault(user, {})[item["id"]] = content


async def stored(client: httpx.AsyncClient, user: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        params = {"limit": 1000, "offset": len(found)}
        response = await client.get(f"/users/{user}/memories", params=params)
        response.raise_for_status()
        page = response.json()
        found += page
        if len(page) < 1000:
            return found


async def verify(
    client: httpx.AsyncClient, users: list[str], acked: dict[str, dict[str, str]]
) -> list[str]:
    """Problems: an acknowledged write missing, an id or a content stored twice."""
    problems: list[str] = []
    for user in users:
        rows = await stored(client, user)
        ids = [row["id"] for row in rows]
        contents = [row["content"] for row in rows]
        if len(set(ids)) != len(ids):
            problems.append(f"{user}: {len(ids) - len(set(ids))} ids stored twice")
        if len(set(contents)) != len(contents):
            problems.append(f"{user}: {len(contents) - len(set(contents))} contents stored twice")
        by_id = {row["id"]: row["content"] for row in rows}
        for memory_id, content in acked.get(user, {}).items():
            if by_id.get(memory_id) != content:
                problems.append(f"{user}: acknowledged {memory_id} is not stored as written")
        extra = set(by_id) - set(acked.get(user, {}))
        if extra:
            problems.append(f"{user}: {len(extra)} memories nobody acknowledged")
    return problems


async def drive(url: str, args: argparse.Namespace) -> dict[str, Any]:
    users = [f"user{i:03d}" for i in range(args.users)]
    limits = httpx.Limits(max_connections=args.clients + 4)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        started = time.perf_counter()
        acked = await prefill(client, users, args.prefill) if args.prefill else {}
        prefill_s = time.perf_counter() - started
        run = Run()
        texts = sentences(2000, seed=11)
        queries = sentences(2000, seed=12, length=(3, 8))
        started = time.perf_counter()
        until = started + args.duration
        await asyncio.gather(
            *(
                client_loop(client, n, users, args.writes, until, run, texts, queries)
                for n in range(args.clients)
            )
        )
        elapsed = time.perf_counter() - started
        fresh = sum(len(v) for v in run.acked.values())
        for user, ids in run.acked.items():
            acked.setdefault(user, {}).update(ids)
        problems = await verify(client, users, acked)
    done = sum(len(v) for v in run.latencies.values())
    return {
        "prefill_seconds": prefill_s,
        "seconds": elapsed,
        "requests": done,
        "requests_per_s": done / elapsed,
        "acknowledged_writes": fresh,
        "errors": run.errors,
        "error_samples": run.error_samples,
        "problems": problems[:20],
        "problem_count": len(problems),
        **{
            f"{kind}_{name}_ms": 1000 * percentile(values, q)
            for kind, values in run.latencies.items()
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
        "p99_ms": 1000 * percentile([x for v in run.latencies.values() for x in v], 0.99),
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from llm_memory_testing.servers import free_port, run_server

    workdir = Path(tempfile.mkdtemp(prefix=f"load-{backend}-"))
    port = free_port()
    exe = Path(sys.executable).with_name("llm-memory")
    argv = [str(exe), "serve", "--port", str(port), "--log-level", "warning"]
    env = {
        "STORAGE_BACKEND": backend,
        "VECTOR_STORE_DIR": str(workdir),
        "EMBEDDING_PROVIDER": "hash",
        "ANONYMIZED_TELEMETRY": "False",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    try:
        with run_server(argv, port, "/healthz", timeout=120, env=env) as server:
            result = asyncio.run(drive(server.url, args))
        return {"backend": backend, **result}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _row(r: dict[str, Any]) -> list[str]:
    errors = sum(r["errors"].values())
    check = "ok" if not r["problem_count"] else f"{r['problem_count']} problems"
    return [
        r["backend"],
        f"{r['requests_per_s']:.0f}",
        *(f"{r[f'write_{p}_ms']:.0f}" for p in ("p50", "p95", "p99")),
        *(f"{r[f'search_{p}_ms']:.0f}" for p in ("p50", "p95", "p99")),
        f"{r['p99_ms']:.0f}",
        str(errors),
        f"{r['acknowledged_writes']:,}",
        check,
    ]


def markdown(
    rows: list[dict[str, Any]], args: argparse.Namespace, command: str, load: float
) -> str:
    names = [
        "backend",
        "requests/s",
        "write p50 ms",
        "write p95 ms",
        "write p99 ms",
        "search p50 ms",
        "search p95 ms",
        "search p99 ms",
        "all p99 ms",
        "errors",
        "acknowledged writes",
        "stored exactly once",
    ]
    lines = [
        f"Command: `{command}`",
        "",
        f"{args.clients} clients, {args.duration:g} s, {100 * args.writes:.0f} % writes over "
        f"{args.users} users, {args.prefill:,} memories before the run; load average "
        f"before the run {load:.2f} ({os.cpu_count()} cores).",
        "",
        "| " + " | ".join(names) + " |",
        "|---" * len(names) + "|",
        *("| " + " | ".join(_row(r)) + " |" for r in rows),
    ]
    for r in rows:
        for sample in r["error_samples"] + r["problems"]:
            lines.append(f"- {r['backend']}: {sample}")
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=_csv, default=["chroma", "lancedb"])
    parser.add_argument("--duration", type=float, default=5.0, help="Seconds of load.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--prefill", type=int, default=10_000, help="Memories before the run.")
    parser.add_argument("--writes", type=float, default=0.5, help="Share of writes.")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=value for the server (repeatable)."
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(None if argv is None else list(argv))
    command = "python benchmarks/load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()[0]
    rows = []
    for backend in args.backends:
        rows.append(run_backend(backend, args))
        print(f"{backend}: done", file=sys.stderr)
    table = markdown(rows, args, command.strip(), load_before)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.md").write_text(table)
    (args.out / "load.json").write_text(json.dumps(rows, indent=2))
    print(table)
    failed = any(r["problem_count"] or sum(r["errors"].values()) for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
