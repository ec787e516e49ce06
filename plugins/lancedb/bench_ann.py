"""Recall@10 and latency of the ANN index against exact search, on real text.

No model can be downloaded, so the vectors come from the core's offline ``hash`` embedder
(signed feature hashing of stemmed words and bigrams), and the text is real English: the
docstring paragraphs of the installed Python packages. Exact top-10 lists are computed
with numpy (brute-force cosine); the index is built by the store itself.

    .venv/bin/python plugins/lancedb/bench_ann.py                 # 50k docs, 1 user
    .venv/bin/python plugins/lancedb/bench_ann.py --docs 100000 --users 100
    .venv/bin/python plugins/lancedb/bench_ann.py --index IVF_PQ
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore

_DOCSTRING = re.compile(r'"""(.*?)"""', re.DOTALL)
K = 10


def paragraphs(limit: int) -> list[str]:
    """Distinct docstring paragraphs of 8-80 words from site-packages, in a fixed order."""
    roots = sorted({Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()})
    seen: set[str] = set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for para in _paragraphs_of(path):
                if para not in seen:
                    seen.add(para)
                    if len(seen) >= limit:
                        return sorted(seen)
    return sorted(seen)


def _paragraphs_of(path: Path) -> Iterator[str]:
    try:
        source = path.read_text(errors="ignore")
    except OSError:
        return
    for doc in _DOCSTRING.findall(source):
        for para in re.split(r"\n\s*\n", doc):
            text = " ".join(para.split())
            if 8 <= len(text.split()) <= 80 and not text.startswith((">>>", "..", ":", "-")):
                yield text


def exact_top_k(matrix: np.ndarray, owners: np.ndarray, query: np.ndarray, user: int) -> list[int]:
    rows = np.flatnonzero(owners == user)
    scores = matrix[rows] @ query
    return rows[np.argsort(-scores, kind="stable")[:K]].tolist()


def run(store: LanceDBStore, queries: list[tuple[np.ndarray, int]], truth: list[list[int]]):
    recalls, latencies = [], []
    for (vector, user), expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.query(vector.tolist(), MemoryFilter(f"u{user}"), K)
        latencies.append((time.perf_counter() - started) * 1000)
        got = {int(hit.item.id) for hit in hits}
        recalls.append(len(got & set(expected)) / max(1, min(K, len(expected))))
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    return statistics.mean(recalls), statistics.median(latencies), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--users", type=int, default=1, help="memories are spread over this many")
    parser.add_argument("--index", choices=["IVF_HNSW_SQ", "IVF_PQ"], default="IVF_HNSW_SQ")
    args = parser.parse_args()

    started = time.perf_counter()
    texts = paragraphs(args.docs + args.queries)
    random.Random(7).shuffle(texts)
    docs, query_texts = texts[: -args.queries], texts[-args.queries :]
    embedder = HashEmbedder(args.dim)
    matrix = np.asarray(embedder.embed_documents(docs), dtype=np.float32)
    owners = np.arange(len(docs)) % args.users
    rng = random.Random(11)
    queries = [
        (np.asarray(v, dtype=np.float32), rng.randrange(args.users))
        for v in embedder.embed_queries(query_texts)
    ]
    truth = [exact_top_k(matrix, owners, vector, user) for vector, user in queries]
    print(
        f"{len(docs)} docs, {len(queries)} queries, {args.dim} dims, {args.users} user(s): "
        f"text + embeddings in {time.perf_counter() - started:.0f}s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        options = LanceDBOptions(ann_index_threshold=10**9, optimize_every=0, index_type=args.index)
        store = LanceDBStore(tmp, "bench", options)
        store.set_embedding_info(embedder.info())
        for start in range(0, len(docs), 10_000):
            batch = [
                MemoryItem(id=str(n), user_id=f"u{owners[n]}", content=docs[n])
                for n in range(start, min(start + 10_000, len(docs)))
            ]
            store.upsert(batch, matrix[start : start + len(batch)].tolist())
        store.optimize()

        print(f"\n{'search':<34} {'recall@10':>9} {'p50 ms':>8} {'p95 ms':>8}")
        row = "{:<34} {:>9.3f} {:>8.1f} {:>8.1f}"
        print(row.format("exact (lancedb flat scan)", *run(store, queries, truth)))
        built = time.perf_counter()
        store.create_vector_index()
        print(f"  ({args.index} index built in {time.perf_counter() - built:.1f}s)")
        plain = {"nprobes": None, "refine_factor": None, "ef": None}  # lancedb's own defaults
        variants: list[tuple[str, dict[str, int | None]]] = [
            ("lancedb defaults", plain),
            ("plugin defaults", {}),
        ]
        if args.index == "IVF_HNSW_SQ":
            variants.append(("ef=100", {**plain, "ef": 100}))
        else:
            variants.append(("nprobes=50", {**plain, "nprobes": 50}))
        variants += [(f"refine_factor={r}", {**plain, "refine_factor": r}) for r in (2, 5, 10)]
        for label, tuning in variants:
            tuned = LanceDBStore(tmp, "bench", options.model_copy(update=tuning))
            print(row.format(f"{args.index} {label}", *run(tuned, queries, truth)))
            tuned.close()
        store.close()


if __name__ == "__main__":
    main()
