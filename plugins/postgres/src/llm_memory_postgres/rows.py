"""Memories to and from rows, filters as SQL with bound parameters, vectors as text."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from llm_memory.errors import ValidationFailed
from llm_memory.models import MemoryItem, as_utc
from llm_memory.storage import MemoryFilter
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

__all__ = [
    "COLUMNS",
    "VECTOR_MARK",
    "from_row",
    "refuse_nul",
    "to_row",
    "vector_param",
    "vector_text",
    "where",
]

#: Every column but the vector, in the order reads select them.
COLUMNS = (
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
SELECT = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)


def to_row(item: MemoryItem) -> tuple[Any, ...]:
    # JSON text, not jsonb: it keeps each scalar as written (1 vs 1.0, key order).
    return (
        item.user_id,
        item.id,
        item.content,
        item.type,
        item.importance,
        item.created_at,
        item.updated_at,
        item.last_accessed_at,
        item.access_count,
        item.session_id,
        json.dumps(item.metadata, ensure_ascii=False),
    )


def from_row(row: Sequence[Any]) -> MemoryItem:
    values = dict(zip(COLUMNS, row, strict=False))
    values["metadata"] = json.loads(values["metadata"])
    for key in ("created_at", "updated_at", "last_accessed_at"):
        if values[key] is not None:
            values[key] = as_utc(values[key])
    return MemoryItem.model_validate(values)


def vector_text(vector: Sequence[float]) -> str:
    """pgvector's text form, ``[1.0,2.5,...]``, sent as a bound parameter."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class BinaryVector:
    """A vector in pgvector's binary form (``vector_recv``: two int16, the dimension and
    0, then big-endian float4s), for the ``%b::vector`` placeholder: several times cheaper
    to make and to parse than the text form."""

    __slots__ = ("data",)

    def __init__(self, vector: Sequence[float]) -> None:
        values = np.asarray(vector, dtype=">f4")
        self.data = struct.pack(">HH", len(values), 0) + values.tobytes()


class BinaryVectorDumper(Dumper):
    """Sends a :class:`BinaryVector` as it is; its type (oid 0, unknown) comes from the
    ``::vector`` cast of its placeholder."""

    format = Format.BINARY

    def dump(self, obj: BinaryVector) -> bytes:
        return obj.data


def register(conn: Any) -> None:
    """Teach a connection to send :class:`BinaryVector` parameters."""
    conn.adapters.register_dumper(BinaryVector, BinaryVectorDumper)


def vector_param(vector: Sequence[float]) -> BinaryVector:
    return BinaryVector(vector)


#: The placeholder :func:`vector_param`'s value goes into.
VECTOR_MARK = sql.SQL("%b::vector")


def parse_vector(text: str) -> list[float]:
    return [float(x) for x in json.loads(text)]


def where(flt: MemoryFilter, alias: str | None = None) -> tuple[sql.Composable, list[Any]]:
    """``flt`` as a WHERE clause over the memory columns, and its parameters (``%s``)."""
    clause, named = where_named(flt, alias, positional=True)
    return clause, list(named.values())


def where_named(
    flt: MemoryFilter, alias: str | None = None, positional: bool = False
) -> tuple[sql.Composable, dict[str, Any]]:
    """``flt`` as a WHERE clause with named parameters (``%(f_user)s``), and their values."""

    def test(column: str, op: str, name: str, value: Any) -> sql.Composable:
        named[name] = value
        ident = sql.Identifier(alias, column) if alias else sql.Identifier(column)
        mark = sql.Placeholder() if positional else sql.Placeholder(name)
        return sql.SQL(op).format(ident, mark)

    named: dict[str, Any] = {}
    parts = [test("user_id", "{} = {}", "f_user", flt.user_id)]
    if flt.types is not None:
        parts.append(test("type", "{} = ANY({})", "f_types", list(flt.types)))
    if flt.since is not None:
        parts.append(test("created_at", "{} >= {}", "f_since", flt.since))
    if flt.until is not None:
        parts.append(test("created_at", "{} < {}", "f_until", flt.until))
    if flt.session_id is not None:
        parts.append(test("session_id", "{} = {}", "f_session", flt.session_id))
    return sql.SQL(" AND ").join(parts), named


def refuse_nul(*values: str | None) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in one line before anything is sent."""
    if any(value is not None and "\x00" in value for value in values):
        raise ValidationFailed(
            "A user id, memory id, session id, type or content holds a NUL character "
            "(\\x00), which PostgreSQL text cannot store; remove it."
        )
