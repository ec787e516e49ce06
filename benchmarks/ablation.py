"""Which retrieval levers pay on LoCoMo: the final pipeline with one lever taken out at a time.

Runs on the in-process ``memory`` store (the keyword index then lives in memory too), so
that only retrieval differs between rows. Levers are switched off by patching the module
constants and functions that implement them; nothing here changes what ships.

    .venv/bin/python benchmarks/ablation.py
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import locomo
from llm_memory import (
    MemoryManager,
    keyword,
    retrieval,
    text,
)
from llm_memory import retriever as retriever_module
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.keyword import open_keyword_index
from llm_memory.keyword import sqlite as kw_sqlite
from llm_memory.scoring.weighted import WeightedOptions, WeightedScorer
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def light_stem(word: str) -> str:
    """The seed's suffix stripper (plural, -ing, -ed, -ly...), for comparison with Porter."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, min_len, repl in (
        ("ies", 5, "y"), ("sses", 6, "ss"), ("ness", 7, ""), ("ments", 8, "ment"),
        ("ings", 7, ""), ("ing", 6, ""), ("edly", 7, ""), ("ed", 5, ""), ("ly", 6, ""),
        ("es", 6, ""), ("s", 4, ""),
    ):  # fmt: skip
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + repl
            if suffix in ("ing", "ed", "ings", "edly") and len(word) > 3 and word[-1] == word[-2]:
                word = word[:-1] if word[-1] not in "lsz" else word
            break
    return word


Lever = Callable[[], contextlib.AbstractContextManager[Any]]
LEVERS: dict[str, tuple[Lever, dict[str, Any]]] = {
    "final": (contextlib.nullcontext, {}),
    "no neighbour context": (
        lambda: patched(keyword, "conversation_neighbours", lambda turns: [[] for _ in turns]),
        {},
    ),
    "no date words": (lambda: patched(kw_sqlite, "_date", lambda item: ""), {}),
    "light stemmer (seed)": (
        lambda: patched(text, "stem", functools.lru_cache(None)(light_stem)),
        {},
    ),
    "no stemming": (lambda: patched(text, "stem", lambda word: word), {}),
    "hash fused at weight 1": (contextlib.nullcontext, {"fusion_vector_weight": 1.0}),
    "RRF k=60": (
        lambda: patched(retriever_module, "rrf", functools.partial(retrieval.rrf, k=60)),
        {},
    ),
    # The scorer orders blocks of MAX_ACTIVE_MEMORIES; 50 lets it reorder every candidate.
    "scorer over all candidates": (contextlib.nullcontext, {"max_active_memories": 50}),
    "no relevance floor": (contextlib.nullcontext, {"min_relevance": 0.0}),
    "no keyword search (dense only)": (contextlib.nullcontext, {"hybrid_search": False}),
}


def evaluate(conversations: Sequence[locomo.Conversation], **settings: Any) -> dict[str, Any]:
    text.stem.cache_clear() if hasattr(text.stem, "cache_clear") else None
    text._content_terms.cache_clear()  # terms made by another lever's stemmer
    options = load_settings(**settings)
    store = MemoryStore()
    index = open_keyword_index(store, options) if options.hybrid_search else None
    manager = MemoryManager(store, HashEmbedder(), keyword_index=index, settings=options)
    for conv in conversations:
        manager.ingest_conversation(conv.turns, conv.name)
    out: dict[str, Any] = {}
    for label, weights in (("relevance only", (1.0, 0.0, 0.0)), ("defaults", None)):
        manager.scorer = WeightedScorer(
            None if weights is None else WeightedOptions(
                relevance_weight=weights[0], importance_weight=weights[1], recency_weight=weights[2]
            )
        )  # fmt: skip
        rows = []
        for conv in conversations:
            for q in conv.questions:
                found = manager.retrieve(q.text, conv.name, limit=20, now=conv.last_date)
                ids = [str(s.memory.metadata.get("dia_id")) for s in found]
                rows.append((q.category, locomo.recall_curve(ids, q.evidence)))
        out[label] = {k: statistics.fmean(r[k - 1] for _, r in rows) for k in locomo.KS} | {
            f"cat{c}": statistics.fmean(r[9] for cat, r in rows if cat == c)
            for c in locomo.CATEGORIES
        }
    manager.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=locomo.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=locomo.HERE / "out")
    args = parser.parse_args()
    files = [args.data] if args.data.is_file() else sorted(args.data.glob("*.json"))
    conversations = [c for f in files for c in locomo.load_conversations(f)]
    lines = [
        "| configuration | R@1 | R@5 | R@10 | R@20 | "
        + " | ".join(f"R@10 {n}" for n in locomo.CATEGORIES.values())
        + " | R@10 with default weights |",
        "|---" * (6 + len(locomo.CATEGORIES)) + "|",
    ]
    for name, (lever, settings) in LEVERS.items():
        with lever():
            result = evaluate(conversations, **settings)
        rel, dflt = result["relevance only"], result["defaults"]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{rel[k]:.3f}" for k in locomo.KS)
            + " | "
            + " | ".join(f"{rel[f'cat{c}']:.3f}" for c in locomo.CATEGORIES)
            + f" | {dflt[10]:.3f} |"
        )
        print(lines[-1], file=sys.stderr)
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
