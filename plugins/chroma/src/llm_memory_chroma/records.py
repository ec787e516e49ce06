"""How a memory is laid out in a Chroma record, and how filters become ``where`` clauses.

One record per memory: the content is the document. The fields filters need are metadata
keys of their own: ``user_id``, ``type``, ``session_id`` and ``created_us`` (``created_at``
as integer microseconds since the epoch, so range filters compare exactly); ``written_us``
is when the record was last written (the writer's clock, microseconds), which processes
sharing a Chroma server read to pull each other's writes (``ChromaStore.written_since``;
recording an access does not change it). Everything else
(the id, ISO times, importance, access count, the memory's own metadata) is one JSON string
under ``record``: it round-trips exactly (an int stays an int, a bool a bool, times to the
microsecond), cannot collide with the filter keys, and halves the write cost, which in
chromadb 1.5 grows with the number of metadata keys (2,000 records: 11 keys 2.6-4.6 s,
5 keys 1.1-1.5 s).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from llm_memory.models import MemoryItem, as_utc
from llm_memory.storage import MemoryFilter

__all__ = [
    "decode",
    "encode",
    "key",
    "memory_id",
    "micros",
    "now_us",
    "sort_key",
    "touched",
    "user_where",
    "where",
    "written_where",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def key(user_id: str, memory_id: str) -> str:
    """The Chroma id of a memory: ids are unique per user, Chroma ids per collection.

    A hash, so that no user id or memory id (colons, quotes, any length) can make two
    memories share a record.
    """
    return hashlib.sha256(f"{user_id}\x1f{memory_id}".encode()).hexdigest()[:32]


def now_us() -> int:
    """The write stamp: this machine's clock, in microseconds since the epoch."""
    return time.time_ns() // 1000


def micros(value: datetime) -> int:
    delta = as_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def encode(item: MemoryItem, written_us: int | None = None) -> tuple[str, str, dict[str, Any]]:
    """``(chroma id, document, metadata)``, stamped ``written_us`` (default: now). A
    ``None`` deletes the key on upsert, so a replaced memory keeps no stale session."""
    record = {
        "id": item.id,
        "importance": item.importance,
        "created_at": _iso(item.created_at),
        "updated_at": _iso(item.updated_at),
        "last_accessed_at": _iso(item.last_accessed_at),
        "access_count": item.access_count,
        "metadata": item.metadata,
    }
    metadata: dict[str, Any] = {
        "user_id": item.user_id,
        "type": item.type,
        "created_us": micros(item.created_at),
        "session_id": item.session_id,
        "written_us": now_us() if written_us is None else written_us,
        "record": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    }
    return key(item.user_id, item.id), item.content, metadata


def decode(document: str | None, metadata: dict[str, Any]) -> MemoryItem:
    record = json.loads(metadata["record"])
    return MemoryItem(
        id=record["id"],
        user_id=metadata["user_id"],
        content=document or "",
        type=metadata["type"],
        importance=record["importance"],
        created_at=datetime.fromisoformat(record["created_at"]),
        updated_at=datetime.fromisoformat(record["updated_at"]),
        last_accessed_at=_parse(record["last_accessed_at"]),
        access_count=record["access_count"],
        session_id=metadata.get("session_id"),
        metadata=record["metadata"],
    )


def touched(record: str, count: int, at: datetime) -> str:
    """The ``record`` JSON with ``count`` more accesses, the last one no earlier than ``at``."""
    fields = json.loads(record)
    fields["access_count"] = int(fields.get("access_count") or 0) + count
    last = _parse(fields.get("last_accessed_at"))
    fields["last_accessed_at"] = _iso(at if last is None else max(last, as_utc(at)))
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def memory_id(metadata: dict[str, Any]) -> str:
    return str(json.loads(metadata["record"])["id"])


def sort_key(metadata: dict[str, Any]) -> tuple[int, str]:
    """``(created_at, id)``, the order of ``list``."""
    return metadata["created_us"], memory_id(metadata)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def where(flt: MemoryFilter) -> dict[str, Any]:
    """The filter as a Chroma ``where`` clause. Values are data, never syntax."""
    conditions: list[dict[str, Any]] = [{"user_id": {"$eq": flt.user_id}}]
    if flt.types is not None:
        conditions.append({"type": {"$in": list(flt.types)}})
    if flt.since is not None:
        conditions.append({"created_us": {"$gte": micros(flt.since)}})
    if flt.until is not None:
        conditions.append({"created_us": {"$lt": micros(flt.until)}})
    if flt.session_id is not None:
        conditions.append({"session_id": {"$eq": flt.session_id}})
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def written_where(since_us: int) -> dict[str, Any]:
    """Every record written at or after ``since_us`` (whatever its user: a pull)."""
    return {"written_us": {"$gte": since_us}}


def user_where(user_id: str) -> dict[str, Any]:
    return {"user_id": {"$eq": user_id}}
