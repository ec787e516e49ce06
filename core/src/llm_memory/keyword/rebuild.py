"""Keeping a keyword index in step with its store: sync on open, rebuild on demand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from llm_memory.keyword.base import KeywordIndex
from llm_memory.models import MemoryItem
from llm_memory.storage import PAGE, VectorStore

#: Turns before and after a turn that count as its neighbours (ingest_conversation's rule).
BEFORE, AFTER = 2, 1
GAP = timedelta(hours=1)


class SyncableIndex(KeywordIndex, Protocol):
    """What sync and rebuild need of an index beyond :class:`KeywordIndex` (the SQLite one)."""

    fresh: bool

    def count(self, user_id: str | None = None) -> int: ...
    def ids(self, user_id: str) -> set[str]: ...
    def users(self) -> set[str]: ...
    def has_links(self, user_id: str) -> bool: ...
    def prune_links(self, user_id: str, keep: set[str]) -> None: ...


def sync(index: SyncableIndex, store: VectorStore) -> str | None:
    """Bring ``index`` in step with ``store``; returns what it did, if anything.

    A new index (or one of an older format) is rebuilt; one whose row count differs from
    the store's (a write or delete that reached only one of them) has its missing rows
    added and its extra rows removed, keeping the context of the others.
    """
    if index.fresh:
        rebuild(index, store)
        return "rebuilt"
    if index.count() == store.count():
        return None
    for user_id in sorted(set(store.users()) | index.users()):
        have = index.ids(user_id)
        stored = list(store.iter_memories(user_id))
        wanted = {m.id for m in stored}
        index.delete(user_id, [i for i in have if i not in wanted])
        index.add([m for m in stored if m.id not in have])
        index.prune_links(user_id, wanted)
    return "synced"


def rebuild(index: SyncableIndex, store: VectorStore) -> int:
    """Re-index every memory of ``store``; returns how many.

    Links between conversation turns survive in the index file and give each turn its
    context back. Where a user has none (the file was lost), episodic memories of one
    session are linked to the turns stored next to them, oldest first, which is their
    conversation order when their times differ.
    """
    index.clear()
    total = 0
    for user_id in store.users():
        memories = list(store.iter_memories(user_id))
        index.prune_links(user_id, {m.id for m in memories})
        guessed = None if index.has_links(user_id) else guessed_neighbours(memories)
        for start in range(0, len(memories), PAGE):
            page = memories[start : start + PAGE]
            index.add(page, None if guessed is None else guessed[start : start + PAGE])
        total += len(memories)
    index.fresh = False
    return total


def conversation_neighbours(turns: Sequence[MemoryItem]) -> list[list[str]]:
    """For turns in conversation order: the ids of each turn's neighbours, the
    ``BEFORE`` turns before it and the ``AFTER`` after it, of the same user and session
    and less than ``GAP`` apart (a longer pause starts another conversation)."""
    out: list[list[str]] = []
    for i, item in enumerate(turns):
        around = [*turns[max(0, i - BEFORE) : i], *turns[i + 1 : i + 1 + AFTER]]
        out.append(
            [
                m.id
                for m in around
                if m.user_id == item.user_id
                and m.session_id == item.session_id
                and m.id != item.id
                and abs(m.created_at - item.created_at) <= GAP
            ]
        )
    return out


def guessed_neighbours(memories: Sequence[MemoryItem]) -> list[list[str]]:
    """Neighbours of episodic memories taken from the store's order (oldest first)."""
    episodes = [m for m in memories if m.type == "episodic"]
    found = dict(zip((m.id for m in episodes), conversation_neighbours(episodes), strict=True))
    return [found.get(m.id, []) for m in memories]
