"""The change history on a Chroma server: a second collection, ``<collection>_history``.

Every process talking to the server records and reads the same history. A record is one
event: its JSON as the document, the fields it is filtered on as metadata, and a constant
one-dimensional vector (Chroma stores a vector with every record; this collection is
never searched by vector). Record ids derive from the user and event id, so appending an
event again (a restore merging a snapshot) rewrites the same record instead of doubling it.
Filters are Chroma ``where`` documents, never text built from values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from chromadb.api import ClientAPI
from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent

__all__ = ["ChromaHistoryLog"]

_VECTOR = [1.0]


class ChromaHistoryLog(HistoryLog):
    """History events in their own collection on the same server as the memories."""

    def __init__(self, client: ClientAPI, name: str, max_batch: int = 1000) -> None:
        self._client = client
        self.name = name
        self._batch = max(1, min(max_batch, 1000))
        self._collection = client.get_or_create_collection(name, embedding_function=None)

    def append(self, events: Sequence[HistoryEvent]) -> None:
        for start in range(0, len(events), self._batch):
            chunk = events[start : start + self._batch]
            self._collection.upsert(
                ids=[_record_id(e.user_id, e.id) for e in chunk],
                embeddings=[_VECTOR] * len(chunk),
                documents=[e.model_dump_json() for e in chunk],
                metadatas=[_metadata(e) for e in chunk],
            )

    def events(self, user_id: str, memory_ids: Sequence[str]) -> list[HistoryEvent]:
        ids = sorted(set(memory_ids))
        found: list[HistoryEvent] = []
        for start in range(0, len(ids), self._batch):
            chunk = ids[start : start + self._batch]
            found += self._get({"$and": [{"user_id": user_id}, {"memory_id": {"$in": chunk}}]})
        return sorted(found, key=lambda e: (e.timestamp, e.id))

    def replaced_by(self, user_id: str, memory_id: str) -> list[str]:
        where = {"$and": [{"user_id": user_id}, {"related_id": memory_id}, {"kind": "superseded"}]}
        return sorted({e.memory_id for e in self._get(where)})

    def user_events(self, user_id: str) -> Iterator[HistoryEvent]:
        yield from sorted(self._get({"user_id": user_id}), key=lambda e: (e.timestamp, e.id))

    def users(self) -> list[str]:
        found: set[str] = set()
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=self._batch, offset=offset)
            found.update(str(m["user_id"]) for m in page["metadatas"] or [])
            if len(page["ids"]) < self._batch:
                return sorted(found)
            offset += self._batch

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> int:
        removed = 0
        ids = sorted(set(memory_ids))
        for start in range(0, len(ids), self._batch):
            chunk = ids[start : start + self._batch]
            removed += self._delete({"$and": [{"user_id": user_id}, {"memory_id": {"$in": chunk}}]})
        return removed

    def delete_user(self, user_id: str) -> int:
        return self._delete({"user_id": user_id})

    def _delete(self, where: dict[str, Any]) -> int:
        ids = self._collection.get(where=where, include=[])["ids"]
        for start in range(0, len(ids), self._batch):
            self._collection.delete(ids=ids[start : start + self._batch])
        return len(ids)

    def _get(self, where: dict[str, Any]) -> list[HistoryEvent]:
        found = self._collection.get(where=where, include=["documents"])
        return [HistoryEvent.model_validate_json(doc) for doc in found["documents"] or []]


def _record_id(user_id: str, event_id: str) -> str:
    return hashlib.sha256(f"{user_id}\x1f{event_id}".encode()).hexdigest()


def _metadata(event: HistoryEvent) -> dict[str, str]:
    # Chroma metadata holds no None: an absent related_id is simply left out.
    meta = {"user_id": event.user_id, "memory_id": event.memory_id, "kind": event.kind}
    if event.related_id is not None:
        meta["related_id"] = event.related_id
    return meta
