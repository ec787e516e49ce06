"""The table's Arrow schema, memories to and from Arrow rows, and filters over them.

Imported only by :mod:`llm_memory_lancedb.store` (pyarrow is heavy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from lancedb.expr import Expr, col, lit
from llm_memory.models import EmbedderInfo, MemoryItem, as_utc
from llm_memory.storage import MemoryFilter

#: Field metadata key on the vector column that records the embedder.
EMBEDDER_KEY = "llm_memory.embedder"
#: Lance's marker of an (unenforced) primary key column, as set_unenforced_primary_key writes it.
PRIMARY_KEY = "lance-schema:unenforced-primary-key:position"
#: Every column but the vector: what reads fetch.
FIELDS = (
    "user_id",
    "id",
    "content",
    "type",
    "importance",
    "created_at",
    "updated_at",
    "last_accessed_at",
    "access_count",
    "session_id",
    "metadata",
)
#: The core's keyword text in the row (llm_memory_lancedb.keyword): own stemmed terms,
#: the ids of the neighbouring turns, and the text the native FTS index covers. NULL in a
#: row written while the core's SQLite index was in use (filled on the next open in row mode).
KEYWORD_FIELDS = ("kw_terms", "kw_links", "kw_text")
_TIME = pa.timestamp("us", tz="UTC")
CHUNK = 1_000  # ids per IN (...) filter


def key(user_id: str, memory_id: str) -> str:
    """The one-column primary key. A user id holds no control character, so the first
    \\x1f splits it back unambiguously."""
    return f"{user_id}\x1f{memory_id}"


def schema(dimension: int, info: EmbedderInfo | None = None) -> pa.Schema:
    vector_meta = {EMBEDDER_KEY: info.model_dump_json()} if info is not None else None
    return pa.schema(
        [
            # merge_insert is keyed on this column. As the table's primary key, lance
            # detects two writers inserting the same new key at once and retries one (as
            # an update); with a two-column key it would silently store both rows.
            pa.field("key", pa.string(), nullable=False, metadata={PRIMARY_KEY: "1"}),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("content", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("importance", pa.float64(), nullable=False),
            pa.field("created_at", _TIME, nullable=False),
            pa.field("updated_at", _TIME),
            pa.field("last_accessed_at", _TIME),
            pa.field("access_count", pa.int64(), nullable=False),
            pa.field("session_id", pa.string()),
            # JSON keeps each scalar's type (1 vs 1.0 vs true), which a struct column cannot.
            pa.field("metadata", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), metadata=vector_meta),
            *keyword_fields(),
        ]
    )


def keyword_fields() -> list[pa.Field]:
    return [
        pa.field("kw_terms", pa.string()),
        pa.field("kw_links", pa.list_(pa.string())),
        pa.field("kw_text", pa.string()),
    ]


def has_keywords(table_schema: pa.Schema) -> bool:
    return all(name in table_schema.names for name in KEYWORD_FIELDS)


def dimension_of(table_schema: pa.Schema) -> int:
    return int(table_schema.field("vector").type.list_size)


def info_of(table_schema: pa.Schema) -> EmbedderInfo | None:
    raw = (table_schema.field("vector").metadata or {}).get(EMBEDDER_KEY.encode())
    return EmbedderInfo.model_validate_json(raw) if raw else None


def to_table(
    items: Sequence[MemoryItem],
    vectors: Sequence[Sequence[float]] | None,
    table_schema: pa.Schema,
    keywords: Sequence[tuple[str, list[str], str]] | None = None,
) -> pa.Table:
    """Rows for ``items``; without ``vectors``, the rows lack the vector column (an update).

    ``keywords`` gives each row's ``(kw_terms, kw_links, kw_text)``; without it a table
    that has those columns gets NULLs there (the row is written without its keyword text,
    which marks it for a fill when the table is next opened with the keywords in the row)."""
    columns: dict[str, Any] = {
        "key": [key(m.user_id, m.id) for m in items],
        "user_id": [m.user_id for m in items],
        "id": [m.id for m in items],
        "content": [m.content for m in items],
        "type": [m.type for m in items],
        "importance": [m.importance for m in items],
        "created_at": [m.created_at for m in items],
        "updated_at": [m.updated_at for m in items],
        "last_accessed_at": [m.last_accessed_at for m in items],
        "access_count": [m.access_count for m in items],
        "session_id": [m.session_id for m in items],
        "metadata": [json.dumps(m.metadata, ensure_ascii=False) for m in items],
    }
    fields = [table_schema.field(name) for name in ("key", *FIELDS)]
    if vectors is not None:
        dim = dimension_of(table_schema)
        flat = np.asarray(vectors, dtype=np.float32).reshape(-1)
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
        fields.append(table_schema.field("vector"))
    if has_keywords(table_schema):
        for n, name in enumerate(KEYWORD_FIELDS):
            columns[name] = (
                [kw[n] for kw in keywords] if keywords is not None else [None] * len(items)
            )
            fields.append(table_schema.field(name))
    return pa.table(columns, schema=pa.schema(fields))


def strings_sql(values: Sequence[str]) -> str:
    """Strings as SQL literals that hold hex digits only (see :func:`keys_sql`)."""
    return ", ".join(f"CAST(decode('{v.encode().hex()}', 'hex') AS STRING)" for v in values)


def to_items(rows: pa.Table) -> list[MemoryItem]:
    out = []
    for row in rows.select(list(FIELDS)).to_pylist():
        row["metadata"] = json.loads(row["metadata"])
        out.append(MemoryItem.model_validate(row))
    return out


def where(flt: MemoryFilter) -> Expr | None:
    """The filter as an expression (values are literals, never SQL text); None: no match."""
    expr = col("user_id") == lit(flt.user_id)
    if flt.types is not None:
        if not flt.types:
            return None
        expr = expr & col("type").isin(list(flt.types))
    if flt.since is not None:
        expr = expr & (col("created_at") >= lit(as_utc(flt.since)))
    if flt.until is not None:
        expr = expr & (col("created_at") < lit(as_utc(flt.until)))
    if flt.session_id is not None:
        expr = expr & (col("session_id") == lit(flt.session_id))
    return expr


def where_keys(user_id: str, ids: Sequence[str]) -> Expr:
    """These memories of this user, found through the primary key's index."""
    keys = [key(user_id, memory_id) for memory_id in ids]
    return (col("user_id") == lit(user_id)) & col("key").isin(keys)


def keys_sql(keys: Sequence[str]) -> str:
    """``key IN (...)`` as SQL text, for ``update``, the one call lancedb takes only as text
    (it turns an expression back into text with ``to_sql()``, which keeps a backslash before
    a quote, and lance's parser reads that as an escape: issue 11). Each value is written as
    ``CAST(decode('<hex of its UTF-8>', 'hex') AS STRING)``: the text holds hex digits only,
    whatever the value, so no value can end a literal."""
    return f"key IN ({strings_sql(keys)})"


def timestamp_sql(value: datetime) -> str:
    """A UTC timestamp as a SQL expression of the table's timestamp type (for ``update``)."""
    text = as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"arrow_cast('{text}Z', 'Timestamp(Microsecond, Some(\"UTC\"))')"


def chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def last_per_key(
    items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]] | None
) -> tuple[list[MemoryItem], list[Sequence[float]]]:
    """One row per (user_id, id), the last one winning: merge_insert refuses duplicates."""
    keep: dict[tuple[str, str], int] = {}
    for n, item in enumerate(items):
        keep.pop((item.user_id, item.id), None)
        keep[(item.user_id, item.id)] = n
    order = list(keep.values())
    return [items[n] for n in order], [vectors[n] for n in order] if vectors is not None else []
