"""One collection filtered by user_id, or one collection per user? Measure both.

    .venv/bin/python plugins/chroma/bench_users.py                 # 100 users x 100 memories, embedded
    .venv/bin/python plugins/chroma/bench_users.py --server        # the same against `chroma run`

Prints, for each layout: the time to create the collection(s) and write everything, the
query latency (p50/p95 of single-user top-10 queries, each with a type filter as the engine
sends), recall@10 against exact cosine search over that user's memories, whether any result
belonged to another user, and the size on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings

TYPES = ("semantic", "preference", "fact", "episodic")


def records(
    users: int, per_user: int, dim: int, seed: int = 1
) -> dict[str, tuple[np.ndarray, list[str]]]:
    rng = np.random.default_rng(seed)
    return {
        f"user-{u:04}": (
            rng.standard_normal((per_user, dim)).astype(np.float32),
            [TYPES[i % 4] for i in range(per_user)],
        )
        for u in range(users)
    }


def one_collection(client, data) -> tuple[float, callable]:
    start = time.perf_counter()
    col = client.create_collection(
        "all-users", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    for user, (vectors, types) in data.items():
        col.add(
            ids=[f"{user}:{i}" for i in range(len(vectors))],
            embeddings=vectors,
            metadatas=[{"user_id": user, "type": t} for t in types],
            documents=[f"memory {i} of {user}" for i in range(len(vectors))],
        )
    elapsed = time.perf_counter() - start

    def query(user: str, vector: np.ndarray) -> list[str]:
        got = col.query(
            query_embeddings=[vector], n_results=10, include=["metadatas"],
            where={"$and": [{"user_id": user}, {"type": {"$in": ["semantic", "fact", "preference"]}}]},
        )  # fmt: skip
        assert all(m["user_id"] == user for m in got["metadatas"][0]), (
            "another user's memory leaked"
        )
        return got["ids"][0]

    return elapsed, query


def per_user_collections(client, data) -> tuple[float, callable]:
    start = time.perf_counter()
    creating = 0.0
    for user, (vectors, types) in data.items():
        began = time.perf_counter()
        col = client.create_collection(
            f"u-{user}", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        creating += time.perf_counter() - began
        col.add(
            ids=[f"{user}:{i}" for i in range(len(vectors))],
            embeddings=vectors,
            metadatas=[{"user_id": user, "type": t} for t in types],
            documents=[f"memory {i} of {user}" for i in range(len(vectors))],
        )
    elapsed = time.perf_counter() - start
    print(
        f"  ({len(data)} create_collection calls: {creating:.2f} s, {creating / len(data) * 1000:.1f} ms each)"
    )

    def query(user: str, vector: np.ndarray) -> list[str]:
        # A real server process cannot keep every user's collection object: fetch it per request.
        col = client.get_collection(f"u-{user}", embedding_function=None)
        got = col.query(
            query_embeddings=[vector], n_results=10, include=[],
            where={"type": {"$in": ["semantic", "fact", "preference"]}},
        )  # fmt: skip
        return got["ids"][0]

    return elapsed, query


def exact(user: str, vectors: np.ndarray, types: list[str], vector: np.ndarray) -> list[str]:
    keep = [i for i, t in enumerate(types) if t != "episodic"]
    m = vectors[keep]
    scores = (m @ vector) / (np.linalg.norm(m, axis=1) * np.linalg.norm(vector))
    return [f"{user}:{keep[i]}" for i in np.argsort(-scores)[:10]]


def measure(name: str, layout, client, data, queries: int, disk: Path | None) -> None:
    write, query = layout(client, data)
    rng = random.Random(2)
    users = list(data)
    latencies, recalls = [], []
    for _ in range(queries):
        user = rng.choice(users)
        vectors, types = data[user]
        probe = vectors[rng.randrange(len(vectors))] + np.float32(0.3) * np.random.default_rng(
            rng.randrange(1 << 30)
        ).standard_normal(vectors.shape[1]).astype(np.float32)
        start = time.perf_counter()
        got = query(user, probe)
        latencies.append((time.perf_counter() - start) * 1000)
        truth = exact(user, vectors, types, probe)
        recalls.append(len(set(got) & set(truth)) / len(truth))
    latencies.sort()
    size = (
        f"{sum(f.stat().st_size for f in disk.rglob('*') if f.is_file()) / 1e6:.1f} MB"
        if disk
        else "n/a"
    )
    print(
        f"{name:<26} write {write:6.2f} s   query p50 {statistics.median(latencies):6.2f} ms"
        f"  p95 {latencies[int(len(latencies) * 0.95) - 1]:6.2f} ms   recall@10 {statistics.mean(recalls):.3f}"
        f"   disk {size}"
    )


@contextlib.contextmanager
def client_for(kind: str, server: bool) -> Iterator[tuple[object, Path | None]]:
    root = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    settings = Settings(anonymized_telemetry=False)
    try:
        if server:
            from llm_memory_testing.servers import chroma_server

            with chroma_server(root) as s:
                yield chromadb.HttpClient(host=s.host, port=s.port, settings=settings), root
        else:
            client = chromadb.PersistentClient(path=str(root), settings=settings)
            yield client, root
            client.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--server", action="store_true", help="measure against `chroma run` instead of embedded"
    )
    args = parser.parse_args()
    data = records(args.users, args.per_user, args.dim)
    mode = "server" if args.server else "embedded"
    print(
        f"{args.users} users x {args.per_user} memories, {args.dim} dimensions, {mode}, {args.queries} queries"
    )
    for name, layout in (
        ("one collection + user_id", one_collection),
        ("one collection per user", per_user_collections),
    ):
        with client_for(name.split()[0], args.server) as (client, disk):
            measure(name, layout, client, data, args.queries, disk)


if __name__ == "__main__":
    main()
