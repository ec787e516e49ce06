"""LoCoMo retrieval benchmark: recall@k of ``MemoryManager.retrieve`` on long conversations.

Each conversation is one user. Every turn goes in through ``ingest_conversation`` with its
session's date; every question of categories 1-4 with evidence is a ``retrieve(question,
user_id, limit=20, now=<last session date>)``, and recall@k is the share of its evidence
turns among the top k. Only the turns and the questions are read: the observation, summary
and event annotations of the data set are never touched.

    .venv/bin/python benchmarks/locomo.py --backends memory,chroma,lancedb --embedders hash

Writes ``results.md``, ``results.json`` and ``recall.png`` to ``--out`` (benchmarks/out/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "bench" / "locomo"
KS = (1, 5, 10, 20)
CURVE_KS = tuple(range(1, 21))
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SCORERS = {"defaults": None, "relevance only": (1.0, 0.0, 0.0)}
#: Reference recall@5/10/20 on the same five conversations (../shared/bench/README.md).
REFERENCE = {
    "dense MiniLM": (0.402, 0.502, 0.598),
    "BM25": (0.454, 0.521, 0.611),
    "MiniLM + BM25, RRF": (0.505, 0.598, 0.682),
    "seed formula": (0.159, 0.205, 0.277),
}
_SESSION = re.compile(r"session_(\d+)")
_DATE_FORMAT = "%I:%M %p on %d %B, %Y"


@dataclass
class Question:
    text: str
    category: int
    evidence: frozenset[str]


@dataclass
class Conversation:
    name: str
    turns: list[dict[str, Any]]
    questions: list[Question]
    last_date: datetime


@dataclass
class Run:
    backend: str
    embedder: str
    ingest_seconds: float = 0.0
    turns: int = 0
    latencies: list[float] = field(default_factory=list)
    hits: dict[str, list[tuple[int, list[float]]]] = field(default_factory=dict)
    #: Per relevance floor (None: the MIN_RELEVANCE default): R@10 of the user's own
    #: questions, and how many memories each question returned when asked of another
    #: conversation's user.
    floors: dict[float | None, tuple[float, list[int]]] = field(default_factory=dict)

    def cross_user_empty(self, floor: float | None = None) -> float:
        counts = self.floors[floor][1]
        return sum(1 for n in counts if n == 0) / len(counts) if counts else float("nan")

    def recall(self, scorer: str, k: int, category: int | None = None) -> float:
        rows = [r for c, r in self.hits[scorer] if category in (None, c)]
        return statistics.fmean(r[k - 1] for r in rows) if rows else float("nan")


# -- data ----------------------------------------------------------------------------------
def load_conversations(path: Path) -> list[Conversation]:
    """The conversations of one file: a single conversation as in ``../shared/bench``
    (turns and ``qa`` at the top level), or the authors' release (``locomo10.json``: a list
    of samples, each with ``sample_id``, ``conversation`` and ``qa``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    samples = data if isinstance(data, list) else [data]
    out = []
    for n, sample in enumerate(samples):
        name = sample.get("sample_id") or (path.stem if len(samples) == 1 else f"{path.stem}-{n}")
        out.append(_conversation(str(name), sample.get("conversation", sample), sample["qa"]))
    return out


def _conversation(name: str, data: dict[str, Any], qas: list[dict[str, Any]]) -> Conversation:
    """The turns (with their session's date) and the questions; nothing else is read."""
    sessions = sorted(
        (int(m.group(1)), key) for key in data if (m := _SESSION.fullmatch(key)) and data[key]
    )
    turns: list[dict[str, Any]] = []
    dates: list[datetime] = []
    for number, key in sessions:
        when = datetime.strptime(data[f"session_{number}_date_time"], _DATE_FORMAT)
        dates.append(when)
        for turn in data[key]:
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" (shares a photo: {turn['blip_caption']})"
            turns.append(
                {
                    "speaker": turn["speaker"],
                    "content": text,
                    "timestamp": when,
                    "metadata": {"dia_id": turn["dia_id"]},
                }
            )
    known = {t["metadata"]["dia_id"] for t in turns}
    questions = []
    for qa in qas:
        evidence = frozenset(e for e in qa.get("evidence") or () if e in known)
        if qa.get("category") in CATEGORIES and evidence:
            questions.append(Question(qa["question"], qa["category"], evidence))
    return Conversation(name, turns, questions, max(dates))


def recall_curve(retrieved: Sequence[str], evidence: frozenset[str]) -> list[float]:
    found, curve = 0, []
    seen: set[str] = set()
    for k in CURVE_KS:
        if k <= len(retrieved) and retrieved[k - 1] in evidence and retrieved[k - 1] not in seen:
            seen.add(retrieved[k - 1])
            found += 1
        curve.append(found / len(evidence))
    return curve


# -- one backend x embedder ---------------------------------------------------------------
def run_one(
    conversations: Sequence[Conversation],
    backend: str,
    embedder: str,
    workdir: Path,
    native_keyword: bool = False,
    floors: Sequence[float] = (),
    s3: str | None = None,
) -> Run:
    """``s3``: the endpoint of an S3-compatible server to keep a LanceDB table on (a shared
    store: KEYWORD_INDEX=auto picks its native index)."""
    from llm_memory import MemoryManager
    from llm_memory.scoring.weighted import WeightedOptions, WeightedScorer

    name = f"{backend} (native FTS)" if native_keyword else backend
    extra: dict[str, Any] = {}
    if s3 is not None:
        name = f"{backend} on S3 (moto), native FTS"
        extra["lancedb"] = {
            "uri": f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}",
            "endpoint": s3,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
    run = Run(name, embedder)
    with MemoryManager.from_settings(
        storage_backend=backend,
        embedding_provider=embedder,
        vector_store_dir=workdir,
        collection="locomo",
        keyword_index="native" if native_keyword else "auto",
        **extra,
    ) as manager:
        start = time.perf_counter()
        for conv in conversations:
            run.turns += len(manager.ingest_conversation(conv.turns, conv.name))
        run.ingest_seconds = time.perf_counter() - start
        default_scorer = manager.scorer
        for label, weights in SCORERS.items():
            if weights is None:
                manager.scorer = default_scorer
            else:
                r, i, t = weights
                options = WeightedOptions(relevance_weight=r, importance_weight=i, recency_weight=t)
                manager.scorer = WeightedScorer(options)
            rows = run.hits.setdefault(label, [])
            for conv in conversations:
                for q in conv.questions:
                    t0 = time.perf_counter()
                    found = manager.retrieve(q.text, conv.name, limit=20, now=conv.last_date)
                    if weights is None:
                        run.latencies.append(time.perf_counter() - t0)
                    ids = [str(s.memory.metadata.get("dia_id")) for s in found]
                    rows.append((q.category, recall_curve(ids, q.evidence)))
        manager.scorer = default_scorer
        run.floors[None] = (run.recall("defaults", 10), cross_user(manager, conversations))
        for floor in floors:
            curves = [
                recall_curve(
                    [
                        str(s.memory.metadata.get("dia_id"))
                        for s in manager.retrieve(
                            q.text, conv.name, limit=20, now=conv.last_date, min_relevance=floor
                        )
                    ],
                    q.evidence,
                )[9]
                for conv in conversations
                for q in conv.questions
            ]
            run.floors[floor] = (
                statistics.fmean(curves),
                cross_user(manager, conversations, floor),
            )
    return run


def cross_user(manager: Any, conversations: Sequence[Conversation], floor: float | None = None):
    """How many memories each question returns when asked of the next conversation's
    user (whose memories do not answer it): the relevance floor should leave most empty."""
    counts = []
    for n, conv in enumerate(conversations):
        other = conversations[(n + 1) % len(conversations)]
        if other is conv:
            continue
        for q in conv.questions:
            found = manager.retrieve(
                q.text, other.name, limit=20, now=other.last_date, min_relevance=floor
            )
            counts.append(len(found))
    return counts


# -- reporting -----------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def markdown(runs: Sequence[Run], questions: int, command: str) -> str:
    lines = [
        f"LoCoMo retrieval, {questions} questions (categories 1-4 with evidence), limit=20.",
        "",
        f"Command: `{command}`",
        "",
        "| backend | embedder | scorer | R@1 | R@5 | R@10 | R@20 | "
        + " | ".join(f"R@10 {name}" for name in CATEGORIES.values())
        + " | ingest s (turns/s) | retrieve p50 ms | p95 ms |",
        "|---" * (8 + len(CATEGORIES) + 2) + "|",
    ]
    for run in runs:
        for scorer in SCORERS:
            recalls = " | ".join(f"{run.recall(scorer, k):.3f}" for k in KS)
            per_cat = " | ".join(f"{run.recall(scorer, 10, c):.3f}" for c in CATEGORIES)
            timing = " | |"
            if scorer == "defaults":
                rate = run.turns / run.ingest_seconds if run.ingest_seconds else 0.0
                timing = (
                    f" {run.ingest_seconds:.1f} ({rate:.0f}) | "
                    f"{1000 * percentile(run.latencies, 50):.1f} | "
                    f"{1000 * percentile(run.latencies, 95):.1f} |"
                )
            lines.append(
                f"| {run.backend} | {run.embedder} | {scorer} | {recalls} | {per_cat} |{timing}"
            )
    lines += [
        "",
        "Relevance floor: R@10 (defaults) of each user's own questions, and the share of "
        "questions that return nothing when asked of another conversation's user.",
        "",
        "| backend | embedder | min_relevance | R@10 | cross-user: nothing returned | "
        "cross-user: memories returned (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for floor, (r10, counts) in run.floors.items():
            label = "default" if floor is None else f"{floor:g}"
            mean = statistics.fmean(counts) if counts else float("nan")
            lines.append(
                f"| {run.backend} | {run.embedder} | {label} | {r10:.3f} | "
                f"{run.cross_user_empty(floor):.2f} | {mean:.1f} |"
            )
    return "\n".join(lines) + "\n"


def chart(runs: Sequence[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5))
    for run in runs:
        for scorer, style in zip(SCORERS, ("-", ":"), strict=True):
            curve = [run.recall(scorer, k) for k in CURVE_KS]
            ax.plot(CURVE_KS, curve, style, label=f"{run.backend} / {run.embedder} / {scorer}")
    for (name, points), marker in zip(REFERENCE.items(), "v^sx", strict=True):
        ax.plot(
            (5, 10, 20), points, marker, color="grey", linestyle="none", label=f"reference: {name}"
        )
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title("LoCoMo retrieval recall@k (categories 1-4)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def as_json(runs: Sequence[Run]) -> list[dict[str, Any]]:
    return [
        {
            "backend": run.backend,
            "embedder": run.embedder,
            "turns": run.turns,
            "ingest_seconds": run.ingest_seconds,
            "retrieve_p50_ms": 1000 * percentile(run.latencies, 50),
            "retrieve_p95_ms": 1000 * percentile(run.latencies, 95),
            "cross_user_empty": run.cross_user_empty(),
            "floors": {
                "default" if f is None else str(f): {"r10": r, "cross_user_counts": c}
                for f, (r, c) in run.floors.items()
            },
            "recall": {
                scorer: {
                    "curve": [run.recall(scorer, k) for k in CURVE_KS],
                    "r10_by_category": {
                        name: run.recall(scorer, 10, c) for c, name in CATEGORIES.items()
                    },
                }
                for scorer in SCORERS
            },
        }
        for run in runs
    ]


def _has_native_keyword(backend: str) -> bool:
    from llm_memory.plugins import build
    from llm_memory.settings import load_settings

    with tempfile.TemporaryDirectory() as workdir:
        store = build("storage", backend, load_settings(vector_store_dir=workdir))
        try:
            return "keyword_search" in store.capabilities
        finally:
            store.close()


@contextlib.contextmanager
def postgres_for(backends: Sequence[str]) -> Iterator[None]:
    """For a postgres run: the server POSTGRES_DSN names, or else a throwaway one from the
    `pgserver` wheel (PostgreSQL + pgvector in a temporary directory), stopped afterwards.
    Each run writes a table of its own (POSTGRES_TABLE), so a real server keeps no mix."""
    if "postgres" not in backends:
        yield
        return
    os.environ["POSTGRES_TABLE"] = f"locomo_{uuid.uuid4().hex[:12]}"
    if os.environ.get("POSTGRES_DSN"):
        yield
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="locomo-pg") as parent:
        server = pgserver.get_server(f"{parent}/data", cleanup_mode="stop")
        os.environ["POSTGRES_DSN"] = server.get_uri()
        try:
            yield
        finally:
            del os.environ["POSTGRES_DSN"]
            server.cleanup()


S3_BUCKET = "locomo"


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A throwaway moto S3 server (as the tests use) with one bucket; yields its URL."""
    import boto3
    from llm_memory_testing.servers import moto_server

    with moto_server() as server:
        boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=S3_BUCKET)
        yield server.url


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _run_all(args: argparse.Namespace, conversations: Sequence[Conversation]) -> list[Run]:
    runs = []
    for backend in args.backends:
        for embedder in args.embedders:
            for native in (False, True) if args.native_keyword else (False,):
                if native and not _has_native_keyword(backend):
                    continue
                with tempfile.TemporaryDirectory(prefix=f"locomo-{backend}-") as workdir:
                    run = run_one(
                        conversations, backend, embedder, Path(workdir), native, args.floors
                    )
                runs.append(run)
                _report(run, embedder)
            if args.s3 and backend == "lancedb":
                with moto_s3() as url, tempfile.TemporaryDirectory() as workdir:
                    run = run_one(
                        conversations, backend, embedder, Path(workdir), False, args.floors, url
                    )
                runs.append(run)
                _report(run, embedder)
    return runs


def _report(run: Run, embedder: str) -> None:
    print(
        f"{run.backend}/{embedder}: R@10 {run.recall('defaults', 10):.3f} "
        f"(relevance only {run.recall('relevance only', 10):.3f}); cross-user "
        f"questions with nothing returned {run.cross_user_empty():.2f}",
        file=sys.stderr,
    )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="A directory of LoCoMo JSON files, or one file (locomo10.json).",
    )
    parser.add_argument("--backends", type=_csv, default=["memory", "chroma", "lancedb"])
    parser.add_argument("--embedders", type=_csv, default=["hash"])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--conversations", type=_csv, default=None, help="e.g. conv-26,conv-30")
    parser.add_argument(
        "--native-keyword",
        action="store_true",
        help="Also run each store that has its own full-text index with that index.",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="Also run lancedb on an S3-compatible server (moto, started for the run): a "
        "shared store, so KEYWORD_INDEX=auto uses its native index.",
    )
    parser.add_argument(
        "--floors",
        type=lambda v: [float(x) for x in _csv(v)],
        default=[],
        help="Also measure these MIN_RELEVANCE floors, e.g. 0,0.2,0.3,0.4.",
    )
    args = parser.parse_args(None if argv is None else list(argv))

    files = [args.data] if args.data.is_file() else sorted(args.data.glob("*.json"))
    conversations = [c for f in files for c in load_conversations(f)]
    if args.conversations:
        conversations = [c for c in conversations if c.name in args.conversations]
    if not conversations:
        parser.error(f"no LoCoMo conversations (*.json) in {args.data}")
    questions = sum(len(c.questions) for c in conversations)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/locomo.py " + " ".join(sys.argv[1:] if argv is None else argv)

    with postgres_for(args.backends):
        runs = _run_all(args, conversations)
    table = markdown(runs, questions, command.strip())
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps(as_json(runs), indent=2))
    chart(runs, args.out / "recall.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
