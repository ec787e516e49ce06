"""LanceDB's native keyword side shared by two store objects: visibility lag and the cost
of rows not yet in the full-text index.

Two ``MemoryManager`` objects open one LanceDB table (a local directory, and a bucket on a
throwaway moto S3 server), with the core's keyword text in the rows
(``KEYWORD_INDEX=native``). A writes a memory holding a made-up word; B searches the keyword
side for it until it is found: the lag from A's write returning to B finding it (p50 / p95 /
max), and how many searches that took (1: the first search after the write found it, so
the lag is one search's time). Then the keyword search time of B with 0, 250, 1,000 and 2,000 rows written since the
last optimize (lance searches those by a flat scan), as a ratio to the freshly optimized
table.

    .venv/bin/python benchmarks/keyword_lag.py [--writes 30] [--rows 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from llm_memory import MemoryManager
from llm_memory.storage import MemoryFilter
from locomo import S3_BUCKET, moto_s3

UNINDEXED = (0, 250, 1000, 2000)


@contextlib.contextmanager
def targets(workdir: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    with moto_s3() as url:  # the throwaway moto server of locomo.py --s3
        s3 = {
            "uri": f"s3://{S3_BUCKET}/lag",
            "endpoint": url,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
        yield [("local directory", {"uri": f"{workdir}/lancedb"}), ("S3 (moto)", s3)]


def measure(name: str, lancedb: dict[str, Any], workdir: str, writes: int, rows: int) -> None:
    settings = {
        "storage_backend": "lancedb",
        "embedding_provider": "hash",
        "vector_store_dir": workdir,
        "keyword_index": "native",
        "lancedb": {**lancedb, "optimize_every": 0, "optimize_growth": 0},
    }
    with MemoryManager.from_settings(**settings) as a, MemoryManager.from_settings(**settings) as b:
        a.write_memories(
            [
                {"user_id": "u", "content": f"seed memory {n} about topic{n % 97}"}
                for n in range(rows)
            ]
        )
        a.store.optimize()
        flt = MemoryFilter("u")
        lags, searches = [], []
        for _ in range(writes):
            word = "zq" + uuid.uuid4().hex[:10]
            a.write_memory(f"The code word is {word}", "u")
            start, tries = time.perf_counter(), 1
            while not b.memories.keyword_ids(word, flt, 5):
                tries += 1
            lags.append((time.perf_counter() - start) * 1000)
            searches.append(tries)
        lags.sort()
        p95 = lags[min(len(lags) - 1, int(0.95 * len(lags)))]
        print(
            f"| {name} | {writes} | {statistics.median(lags):.1f} | {p95:.1f} | {lags[-1]:.1f} "
            f"| {max(searches)} |"
        )
        a.store.optimize()
        base = None
        written = 0
        for unindexed in UNINDEXED:
            while written < unindexed:  # batches of 50, as a busy server commits them
                a.write_memories(
                    [
                        {"user_id": "u", "content": f"later memory {written + n} topic{n}"}
                        for n in range(50)
                    ]
                )
                written += 50
            times = []
            for n in range(30):
                start = time.perf_counter()
                b.memories.keyword_ids(f"topic{n} memory", flt, 10)
                times.append((time.perf_counter() - start) * 1000)
            p50 = statistics.median(times)
            base = base or p50
            print(
                f"|   {name}: {unindexed} rows unindexed | search p50 {p50:.1f} ms | x{p50 / base:.2f} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    print(
        "| store | writes | lag p50 ms | p95 ms | max ms | searches until found (max) |\n"
        "|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as workdir, targets(workdir) as found:
        for name, lancedb in found:
            measure(name, lancedb, workdir, args.writes, args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
