"""The table's indexes: which exist from the start, the ANN index's configuration.

Imported only by :mod:`llm_memory_lancedb.store` (lancedb is heavy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lancedb.index import FTS, BTree, HnswSq, IvfPq

from llm_memory_lancedb import rows
from llm_memory_lancedb.options import LanceDBOptions

Retry = Callable[[Callable[[], Any]], Any]


#: The full-text index of the core's keyword text (``kw_text``): it arrives stemmed and
#: lowercased, so the index only splits it on whitespace (no stemming, stop words or
#: folding of its own: benchmarks/README.md). Positions are not kept (no phrase queries).
KEYWORD_FTS = FTS(
    base_tokenizer="whitespace",
    lower_case=False,
    stem=False,
    remove_stop_words=False,
    ascii_folding=False,
    with_position=False,
)


def ensure(table: Any, fts: str | None, retry: Retry) -> bool:
    """Make sure the primary key, the ``key`` and ``user_id`` BTREEs and the full-text
    index of column ``fts`` (``content`` or ``kw_text``; None: none) exist; cheap while the
    table is empty. Returns whether an ANN index exists."""
    if rows.PRIMARY_KEY.encode() not in (table.schema.field("key").metadata or {}):
        retry(lambda: table.set_unenforced_primary_key("key"))
    present = {ix.columns[0] for ix in table.list_indices()}
    wanted: list[tuple[str, Any]] = [("key", BTree()), ("user_id", BTree())]
    if fts == "kw_text":
        wanted.append((fts, KEYWORD_FTS))
    elif fts:
        wanted.append((fts, FTS()))
    for column, config in wanted:
        if column not in present:
            create(table, column, config, retry)
    return "vector" in present


def create(table: Any, column: str, config: Any, retry: Retry) -> None:
    try:
        retry(lambda: table.create_index(column, config=config, replace=False))
    except RuntimeError as exc:
        if "already exists" not in str(exc):  # another writer built it first: fine
            raise


def ann_config(options: LanceDBOptions) -> Any:
    """The ANN index as configured; cosine, as queries are."""
    tuning = {"num_partitions": options.num_partitions}
    if options.index_type == "IVF_PQ":
        return IvfPq(distance_type="cosine", num_sub_vectors=options.num_sub_vectors, **tuning)
    hnsw = {"m": options.m, "ef_construction": options.ef_construction}
    return HnswSq(
        distance_type="cosine", **tuning, **{k: v for k, v in hnsw.items() if v is not None}
    )


def describe(table: Any) -> list[dict[str, Any]]:
    out = []
    for ix in table.list_indices():
        stats = table.index_stats(ix.name)
        out.append(
            {
                "name": ix.name,
                "type": ix.index_type,
                "columns": list(ix.columns),
                "unindexed_rows": None if stats is None else int(stats.num_unindexed_rows),
            }
        )
    return out
