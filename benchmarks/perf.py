"""Performance: llm-memory against the raw backend doing the same work with the same vectors.

For each backend and size, four child processes run one after the other (each its own
process, so peak RSS is its own): the raw client (chromadb ``collection.add`` /
``collection.query``, lancedb ``table.add`` / ``table.search``, psycopg ``executemany`` of
``INSERT ... ON CONFLICT`` into a pgvector table with an HNSW index / ``SELECT ... ORDER BY
vector <=> q``) and llm-memory
(``write_memories`` / ``retrieve``, hybrid search and scoring included), twice each in
alternating order so background load hits both alike. Memories are synthetic sentences
spread over 100 users; both sides store the same texts and the hash embedder's vectors.

    .venv/bin/python benchmarks/perf.py                       # 10,000 memories
    .venv/bin/python benchmarks/perf.py --sizes 10000,100000  # and 100,000 (slow)
    .venv/bin/python benchmarks/perf.py --backends postgres   # POSTGRES_DSN, or a pgserver

For ``postgres`` the server is the one ``POSTGRES_DSN`` names, or else a throwaway one from
the ``pgserver`` wheel; each child writes a schema of its own, dropped afterwards.

Beside the batch figures: the single-write path (``write_memory`` of one memory, against
the raw client adding one record, p50 over ``SINGLES`` writes after the batches), and the
timed queries as a read-only run: how many access-statistics flushes, table commits and
background optimizes the reads alone caused (LanceDB counts commits by table version; an
optimize caused by reads is a bug, issue 17).

Beside another memory library: ``--mem0-python PATH`` names a Python interpreter with
``mem0ai`` and ``llm-memory`` installed (kept out of this workspace: mem0 pins its own
dependencies); mem0 then runs the same work on embedded Chroma, its embedding model
replaced by the same ``hash`` embedder, ``add(..., infer=False)`` (no LLM) and
``search``. See benchmarks/README.md for the two commands that set it up.

Writes ``perf-<sizes>.md`` and ``.json`` to ``--out`` (benchmarks/out/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
USERS = 100
BATCH = 1000
QUERIES = 300
WARMUP = 30
SINGLES = 200  # single writes timed (after SINGLE_WARMUP untimed)
SINGLE_WARMUP = 20
K = 50  # what retrieve asks the vector index for (retrieval_candidates)
LIMIT = 10
#: raw client; llm-memory; llm-memory without access-statistics writes (a diagnostic).
MODES = ("raw", "core", "core-no-access", "mem0")


# -- synthetic data ------------------------------------------------------------------------
def vocabulary(size: int = 8000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    onsets, vowels, codas = "bcdfghjklmnprstvwz", "aeiou", ["", "n", "r", "s", "t", "l", "nd", "st"]
    suffixes = ["", "", "", "s", "ing", "ed", "er", "ly", "ness", "ation"]
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(1, 3)
        stem = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        words.add(stem + rng.choice(suffixes))
    return sorted(words)


def sentences(count: int, seed: int, length: tuple[int, int] = (8, 20)) -> list[str]:
    """Zipf-distributed words, like text: a few words are everywhere, most are rare."""
    rng = random.Random(seed)
    words = vocabulary()
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    out = []
    for _ in range(count):
        n = rng.randint(*length)
        out.append(" ".join(rng.choices(words, weights, k=n)).capitalize() + ".")
    return out


def dataset(size: int) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    texts = sentences(size, seed=size)
    # Grouped by user, as an import or a backfill writes them (each batch spans a few users).
    users = [f"user{i * USERS // size:03d}" for i in range(size)]
    rng = random.Random(size + 1)
    queries = [
        (q, f"user{rng.randrange(USERS):03d}")
        for q in sentences(QUERIES + WARMUP, size + 2, (3, 8))
    ]
    return texts, users, queries


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_queries(run: Any, queries: Sequence[tuple[str, str]]) -> list[float]:
    for query in queries[:WARMUP]:
        run(*query)
    latencies = []
    for query in queries[WARMUP:]:
        start = time.perf_counter()
        run(*query)
        latencies.append(time.perf_counter() - start)
    return latencies


# -- the children --------------------------------------------------------------------------
def child_core(backend: str, size: int, workdir: Path, access: bool = True) -> dict[str, Any]:
    from llm_memory import MemoryManager

    texts, users, queries = dataset(size)
    items = [{"user_id": u, "content": t} for u, t in zip(users, texts, strict=True)]
    with MemoryManager.from_settings(
        storage_backend=backend, vector_store_dir=workdir, collection="perf"
    ) as manager:
        if not access:  # diagnostic: retrieve without writing access statistics back
            manager._access.touch = lambda *args, **kwargs: None
        in_store = _time_store_calls(manager.store)
        start = time.perf_counter()
        for i in range(0, size, BATCH):
            manager.write_memories(items[i : i + BATCH])
        ingest = time.perf_counter() - start
        ingest_in_store = in_store.pop("total", 0.0)
        _settle(manager.store)  # the ingest's background optimize is not the reads'
        before = _housekeeping(manager)
        start = time.perf_counter()
        latencies = timed_queries(lambda q, u: manager.retrieve(q, u, limit=LIMIT), queries)
        manager.flush()
        _settle(manager.store)
        reads = {
            "seconds": time.perf_counter() - start,
            "retrieves": len(queries),
            **{k: v - before[k] for k, v in _housekeeping(manager).items()},
        }
        singles = timed_singles(
            lambda n: manager.write_memory(f"single write {n} {texts[n % size]}", users[n % size])
        )
    return {
        "ingest_seconds": ingest,
        "ingest_store_seconds": ingest_in_store,
        "latencies": latencies,
        "single_latencies": singles,
        "read_only": reads,
        "peak_rss_mb": peak_rss_mb(),
    }


def timed_singles(write: Any) -> list[float]:
    """``write(n)`` one at a time: the latencies of the timed ones."""
    latencies = []
    for n in range(SINGLE_WARMUP + SINGLES):
        start = time.perf_counter()
        write(n)
        if n >= SINGLE_WARMUP:
            latencies.append(time.perf_counter() - start)
    return latencies


def _settle(store: Any) -> None:
    wait = getattr(store, "wait_for_index", None)
    if wait is not None:
        wait()


def _housekeeping(manager: Any) -> dict[str, int]:
    """Counters of what writes the store: access flushes, table commits, optimizes."""
    store = manager.store
    out = {"flushes": manager._access.flushes}
    if hasattr(store, "optimizes"):  # LanceDB: every commit is a new table version
        out["optimizes"] = store.optimizes
        out["commits"] = int(store.describe().get("version", 0))
    return out


def _time_store_calls(store: Any) -> dict[str, float]:
    """Add the time spent inside the storage plugin's methods to ``spent["total"]``."""
    spent: dict[str, float] = {}
    for name in ("upsert", "update", "get", "get_many", "query", "keyword_query", "count"):
        method = getattr(store, name)

        def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent["total"] = spent.get("total", 0.0) + time.perf_counter() - start

        setattr(store, name, timed)
    return spent


def child_raw(backend: str, size: int, workdir: Path) -> dict[str, Any]:
    from llm_memory.embedding.hash import HashEmbedder

    texts, users, queries = dataset(size)
    embedder = HashEmbedder()
    start = time.perf_counter()
    vectors = embedder.embed_documents(texts)  # the same vectors; timed apart from the add
    embed = time.perf_counter() - start
    query_vectors = {q: embedder.embed_queries([q])[0] for q, _ in queries}
    ids = [f"m{i}" for i in range(size)]
    raw = {"chroma": _raw_chroma, "lancedb": _raw_lancedb, "postgres": _raw_postgres}[backend]
    add, search = raw(workdir, len(vectors[0]))
    start = time.perf_counter()
    for i in range(0, size, BATCH):
        j = i + BATCH
        add(ids[i:j], users[i:j], texts[i:j], vectors[i:j])
    ingest = time.perf_counter() - start
    latencies = timed_queries(lambda q, u: search(query_vectors[q], u), queries)
    singles = timed_singles(
        lambda n: add([f"single{n}"], [users[n % size]], [texts[n % size]], [vectors[n % size]])
    )
    result = {
        "ingest_seconds": ingest,
        "embed_seconds": embed,
        "latencies": latencies,
        "single_latencies": singles,
        "peak_rss_mb": peak_rss_mb(),
    }
    if backend == "lancedb":
        # A reference, not the baseline: the same queries once the raw table has been
        # optimized (compacted, indexes brought up to date), as the plugin does in the
        # background. Chroma has no such step.
        search.table.optimize()  # type: ignore[attr-defined]
        result["latencies_optimized"] = timed_queries(
            lambda q, u: search(query_vectors[q], u), queries
        )
    return result


def child_mem0(size: int, workdir: Path) -> dict[str, Any]:
    """mem0 (open source) on embedded Chroma, with the same vectors and no LLM."""
    os.environ.setdefault("OPENAI_API_KEY", "unused")  # its clients want one; none is called
    os.environ["MEM0_TELEMETRY"] = "False"
    from llm_memory.embedding.hash import HashEmbedder
    from mem0 import Memory

    texts, users, queries = dataset(size)
    memory = Memory.from_config(
        {
            "vector_store": {
                "provider": "chroma",
                "config": {"collection_name": "perf", "path": str(workdir)},
            },
            "embedder": {"provider": "openai", "config": {"embedding_dims": 1024}},
            "history_db_path": str(workdir / "history.db"),
        }
    )
    hashing = HashEmbedder()

    class SameVectors:  # mem0's embedder interface: embed(text, memory_action)
        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            if memory_action == "search":
                return hashing.embed_queries([text])[0]
            return hashing.embed_documents([text])[0]

    memory.embedding_model = SameVectors()
    start = time.perf_counter()
    for i in range(0, size, BATCH):  # mem0 adds one user's messages per call
        by_user: dict[str, list[dict[str, str]]] = {}
        for user, text in zip(users[i : i + BATCH], texts[i : i + BATCH], strict=True):
            by_user.setdefault(user, []).append({"role": "user", "content": text})
        for user, messages in by_user.items():
            memory.add(messages, user_id=user, infer=False)
    ingest = time.perf_counter() - start
    latencies = timed_queries(
        lambda q, u: memory.search(q, filters={"user_id": u}, top_k=LIMIT), queries
    )
    return {"ingest_seconds": ingest, "latencies": latencies, "peak_rss_mb": peak_rss_mb()}


def _raw_chroma(workdir: Path, dimension: int) -> tuple[Any, Any]:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(workdir), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection(
        "raw", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )

    def add(ids: list[str], users: list[str], texts: list[str], vectors: list[list[float]]) -> None:
        metadatas = [{"user_id": u} for u in users]
        collection.add(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)

    def search(vector: list[float], user: str) -> Any:
        return collection.query(
            query_embeddings=[vector], n_results=K, where={"user_id": user},
            include=["metadatas", "documents", "distances"],
        )  # fmt: skip

    return add, search


def _raw_lancedb(workdir: Path, dimension: int) -> tuple[Any, Any]:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(workdir))
    schema = pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("user_id", pa.string()),
            pa.field("content", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )
    table = db.create_table("raw", schema=schema)
    table.create_scalar_index("user_id", index_type="BTREE")

    def add(ids: list[str], users: list[str], texts: list[str], vectors: list[list[float]]) -> None:
        table.add(
            pa.table(
                {"id": ids, "user_id": users, "content": texts, "vector": vectors}, schema=schema
            )
        )

    def search(vector: list[float], user: str) -> Any:
        query = (
            table.search(vector)
            .distance_type("cosine")
            .where(f"user_id = '{user}'", prefilter=True)
        )
        return query.limit(K).to_arrow()

    search.table = table  # type: ignore[attr-defined]
    return add, search


def _raw_postgres(workdir: Path, dimension: int) -> tuple[Any, Any]:
    """What the pgvector README sets up: a table and an HNSW cosine index from the start;
    vectors sent as binary float8 arrays (pgvector casts them)."""
    import psycopg

    conn = psycopg.connect(os.environ["POSTGRES_DSN"], autocommit=True)
    schema = os.environ["POSTGRES_SCHEMA_NAME"]
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'SET search_path TO "{schema}", public')
    conn.execute(
        f"CREATE TABLE raw (user_id text, id text, content text, vector vector({dimension}), "
        "PRIMARY KEY (user_id, id))"
    )
    conn.execute("CREATE INDEX ON raw USING hnsw (vector vector_cosine_ops)")
    insert = (
        "INSERT INTO raw (user_id, id, content, vector) VALUES (%s, %s, %s, %b::float8[]::vector) "
        "ON CONFLICT (user_id, id) DO UPDATE SET content = EXCLUDED.content, "
        "vector = EXCLUDED.vector"
    )
    query = (
        "SELECT id, content, 1 - (vector <=> %b::float8[]::vector) FROM raw WHERE user_id = %s "
        "ORDER BY (vector <=> %b::float8[]::vector) + 0 LIMIT %s"
    )  # exact (`+ 0` keeps the planner off the HNSW index, which filters after its top-k
    # and would return a few of a small user's rows), as the plugin searches a small user

    def add(ids: list[str], users: list[str], texts: list[str], vectors: list[list[float]]) -> None:
        with conn.transaction():
            conn.cursor().executemany(
                insert,
                [(u, i, t, v) for i, u, t, v in zip(ids, users, texts, vectors, strict=True)],
            )

    def search(vector: list[float], user: str) -> Any:
        return conn.execute(query, [vector, user, vector, K]).fetchall()

    return add, search


# -- the parent ----------------------------------------------------------------------------
@contextlib.contextmanager
def postgres_server(backends: Sequence[str]) -> Iterator[None]:
    """For a postgres row: the server POSTGRES_DSN names, or else a throwaway pgserver."""
    if "postgres" not in backends or os.environ.get("POSTGRES_DSN"):
        yield
        return
    import pgserver
    import psycopg

    with tempfile.TemporaryDirectory(prefix="perf-pg") as parent:
        server = pgserver.get_server(f"{parent}/data", cleanup_mode="stop")
        os.environ["POSTGRES_DSN"] = server.get_uri()
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            yield
        finally:
            del os.environ["POSTGRES_DSN"]
            server.cleanup()


def _drop_schema(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(os.environ["POSTGRES_DSN"], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def run_child(mode: str, backend: str, size: int, python: str | None = None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"perf-{mode}-{backend}-"))
    # Both sides search exactly (flat): lancedb's ANN index would otherwise start training
    # in the background when the table reaches its threshold, in the middle of the timing.
    env = {**os.environ, "LANCEDB_ANN_INDEX_THRESHOLD": str(10 * size)}
    if backend == "postgres":  # each child its own schema, dropped afterwards
        env["POSTGRES_SCHEMA_NAME"] = f"perf_{mode.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    try:
        command = [
            python or sys.executable,
            __file__,
            "--child",
            mode,
            "--backends",
            backend,
            "--sizes",
            str(size),
            "--workdir",
            str(workdir),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{mode} {backend} {size} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if backend == "postgres":
            _drop_schema(env["POSTGRES_SCHEMA_NAME"])


def help_seconds(runs: int = 5) -> float:
    exe = Path(sys.executable).with_name("llm-memory")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def summarise(results: list[dict[str, Any]], size: int) -> dict[str, Any]:
    latencies = sorted(x for r in results for x in r["latencies"])
    optimized = sorted(x for r in results for x in r.get("latencies_optimized", []))
    extra: dict[str, Any] = {}
    if optimized:
        extra["p50_optimized_ms"] = 1000 * optimized[len(optimized) // 2]
    singles = sorted(x for r in results for x in r.get("single_latencies", []))
    if singles:
        extra["single_p50_ms"] = 1000 * singles[len(singles) // 2]
        extra["single_p95_ms"] = 1000 * singles[int(0.95 * len(singles))]
    reads = [r["read_only"] for r in results if "read_only" in r]
    if reads:  # the worst run: reads must cause no optimize in any
        extra["read_only"] = {k: max(r[k] for r in reads) for k in reads[0]}
    return {
        **extra,
        "ingest_per_s": size / statistics.fmean(r["ingest_seconds"] for r in results),
        "ingest_with_embedding_per_s": size
        / statistics.fmean(r["ingest_seconds"] + r.get("embed_seconds", 0.0) for r in results),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(0.95 * len(latencies))],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "ingest_in_store": statistics.fmean(
            r.get("ingest_store_seconds", 0.0) / r["ingest_seconds"] for r in results
        ),
    }


def _table(header: str, body: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table's lines; ``header`` is the column names separated by ``|``."""
    names = [name.strip() for name in header.split("|")]
    lines = ["| " + " | ".join(str(cell) for cell in row) + " |" for row in [names, *body]]
    return [lines[0], "|---" * len(names) + "|", *lines[1:]]


def _ratio(a: float, b: float, bold: bool = False) -> str:
    return f"**{a / b:.2f}**" if bold else f"{a / b:.2f}"


def _main_row(r: dict[str, Any]) -> list[str]:
    raw, core = r["raw"], r["core"]
    return [
        r["backend"],
        f"{r['size']:,}",
        f"{raw['ingest_per_s']:,.0f}",
        f"{core['ingest_per_s']:,.0f}",
        _ratio(core["ingest_per_s"], raw["ingest_per_s"], bold=True),
        f"{raw['p50_ms']:.1f}",
        f"{core['p50_ms']:.1f}",
        _ratio(core["p50_ms"], raw["p50_ms"], bold=True),
        f"{raw['p95_ms']:.1f}",
        f"{core['p95_ms']:.1f}",
        _ratio(core["p95_ms"], raw["p95_ms"]),
        f"{raw['peak_rss_mb']:.0f}",
        f"{core['peak_rss_mb']:.0f}",
    ]


def _reference_row(r: dict[str, Any]) -> list[str]:
    raw, core = r["raw"], r["core"]
    optimized = raw.get("p50_optimized_ms")
    return [
        r["backend"],
        f"{r['size']:,}",
        f"{raw['ingest_with_embedding_per_s']:,.0f}",
        _ratio(core["ingest_per_s"], raw["ingest_with_embedding_per_s"]),
        f"{100 * core['ingest_in_store']:.0f}%",
        f"{optimized:.1f}" if optimized else "n/a",
        _ratio(core["p50_ms"], optimized) if optimized else "n/a",
    ]


def _single_row(r: dict[str, Any]) -> list[str]:
    raw, core = r["raw"], r["core"]
    reads = core.get("read_only", {})
    return [
        r["backend"],
        f"{r['size']:,}",
        f"{raw['single_p50_ms']:.1f}",
        f"{core['single_p50_ms']:.1f}",
        _ratio(core["single_p50_ms"], raw["single_p50_ms"], bold=True),
        f"{core['single_p95_ms']:.1f}",
        f"{1000 / core['ingest_per_s']:.2f}",
        f"{reads.get('retrieves', 0)} in {reads.get('seconds', 0.0):.1f} s",
        str(reads.get("flushes", "n/a")),
        str(reads.get("commits", "n/a")),
        f"**{reads['optimizes']}**" if "optimizes" in reads else "n/a",
    ]


def _mem0_row(r: dict[str, Any]) -> list[str]:
    mem0, core = r["mem0"], r["core"]
    return [
        r["backend"],
        f"{r['size']:,}",
        f"{mem0['ingest_per_s']:,.0f}",
        f"{core['ingest_per_s']:,.0f}",
        _ratio(core["ingest_per_s"], mem0["ingest_per_s"]),
        *(f"{side[key]:.1f}" for key in ("p50_ms", "p95_ms") for side in (mem0, core)),
        *(f"{side['peak_rss_mb']:.0f}" for side in (mem0, core)),
    ]


def _quiet_row(r: dict[str, Any]) -> list[str]:
    raw, quiet = r["raw"], r["core-no-access"]
    return [
        r["backend"],
        f"{r['size']:,}",
        f"{quiet['p50_ms']:.1f}",
        _ratio(quiet["p50_ms"], raw["p50_ms"]),
        f"{quiet['p95_ms']:.1f}",
        _ratio(quiet["p95_ms"], raw["p95_ms"]),
    ]


def markdown(rows: list[dict[str, Any]], help_s: float, command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"{USERS} users, batches of {BATCH}, {QUERIES} timed queries (limit {LIMIT}; the raw "
        f"query asks for k={K}, as retrieve's vector search does). Ratios: llm-memory / raw.",
        "",
        *_table(
            "backend | memories | ingest/s raw | ingest/s llm-memory | ratio | p50 ms raw "
            "| p50 ms llm-memory | ratio | p95 ms raw | p95 ms llm-memory | ratio "
            "| peak RSS MB raw | peak RSS MB llm-memory",
            map(_main_row, rows),
        ),
        "",
        "The raw add is given vectors; `write_memories` embeds the texts itself (the `hash` "
        "embedder), validates every memory, checks for duplicates and updates the keyword "
        "index. Against the raw add *plus* the same embedding, and, for LanceDB, against the "
        "raw query once the raw table is optimized (compacted, indexes current; the plugin "
        "does that in the background):",
        "",
        *_table(
            "backend | memories | raw ingest/s counting the embedding | llm-memory / that "
            "| share of ingest inside the storage plugin | p50 ms raw, optimized "
            "| llm-memory / that",
            map(_reference_row, rows),
        ),
    ]
    singles = [r for r in rows if "single_p50_ms" in r.get("core", {}) and "raw" in r]
    if singles:
        lines += [
            "",
            f"The single-write path: `write_memory` of one memory against the raw client "
            f"adding one record (p50 of {SINGLES}, after the batches), beside the batch cost "
            "per memory; and the timed queries as a read-only run (retrieves only): the "
            "access-statistics flushes, the table commits (LanceDB: table versions) and the "
            "background optimizes they caused (the worst run).",
            "",
            *_table(
                "backend | memories | single write p50 ms raw | single write p50 ms "
                "llm-memory | ratio | single write p95 ms llm-memory | batch ms per memory "
                "llm-memory | read-only run | access flushes | commits | optimizes",
                map(_single_row, singles),
            ),
        ]
    other = [r for r in rows if "mem0" in r]
    if other:
        lines += [
            "",
            "Beside another memory library: mem0 (open source) on the same embedded Chroma, "
            "with the same vectors (its embedding model replaced by the `hash` embedder), "
            "`add(messages, user_id=..., infer=False)` (no LLM; one call per user per batch: "
            "mem0 has no multi-user batch add) and `search(query, filters={user_id}, "
            f"top_k={LIMIT})` (vector search only: mem0 has no keyword search on Chroma).",
            "",
            *_table(
                "backend | memories | ingest/s mem0 | ingest/s llm-memory | llm-memory / mem0 "
                "| p50 ms mem0 | p50 ms llm-memory | p95 ms mem0 | p95 ms llm-memory "
                "| peak RSS MB mem0 | peak RSS MB llm-memory",
                map(_mem0_row, other),
            ),
        ]
    quiet = [r for r in rows if "core-no-access" in r]
    if quiet:
        lines += [
            "",
            "Diagnostic: retrieve without the access statistics (`access_count`, "
            "`last_accessed_at`) that every retrieve records in the background:",
            "",
            *_table(
                "backend | memories | p50 ms | ratio to raw | p95 ms | ratio to raw",
                map(_quiet_row, quiet),
            ),
        ]
    lines += ["", f"`llm-memory --help`: {help_s * 1000:.0f} ms (median of 5)."]
    return "\n".join(lines) + "\n"


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _run_rows(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    for size in args.sizes:
        for backend in args.backends:
            modes = [mode for mode in MODES if mode in args.modes and mode != "mem0"]
            if args.mem0_python and backend == "chroma":
                modes.append("mem0")
            results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
            for attempt in range(args.repeat):
                order = modes if attempt % 2 == 0 else modes[::-1]
                for mode in order:
                    python = args.mem0_python if mode == "mem0" else None
                    results[mode].append(run_child(mode, backend, size, python))
                    print(f"{backend} {size} {mode}: done", file=sys.stderr)
            rows.append(
                {
                    "backend": backend,
                    "size": size,
                    **{mode: summarise(results[mode], size) for mode in modes},
                }
            )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=_csv, default=["chroma", "lancedb"])
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in _csv(v)], default=[10_000])
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each side, alternating.")
    parser.add_argument(
        "--modes",
        type=_csv,
        default=list(MODES),
        help="raw, core, core-no-access (a diagnostic: retrieve without access statistics).",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--mem0-python",
        help="A Python with mem0ai and llm-memory installed: also run mem0 (Chroma only).",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.child:
        backend, size = args.backends[0], args.sizes[0]
        if args.child == "raw":
            result = child_raw(backend, size, args.workdir)
        elif args.child == "mem0":
            result = child_mem0(size, args.workdir)
        else:
            result = child_core(backend, size, args.workdir, access=args.child == "core")
        print(json.dumps(result))
        return 0

    command = "python benchmarks/perf.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    with postgres_server(args.backends):
        _run_rows(args, rows)
    help_s = help_seconds()
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, help_s, command.strip())
    name = "perf-" + "-".join(str(size) for size in args.sizes)
    (args.out / f"{name}.md").write_text(table)
    (args.out / f"{name}.json").write_text(
        json.dumps({"rows": rows, "help_seconds": help_s}, indent=2)
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
