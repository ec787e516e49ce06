"""Keeping a keyword index in step with its store: sync on open, rebuild on demand."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from llm_memory.keyword.base import KeywordIndex
from llm_memory.models import MemoryItem, as_utc
from llm_memory.storage import PAGE, VectorStore

#: Turns before and after a turn that count as its neighbours (ingest_conversation's rule).
BEFORE, AFTER = 2, 1
GAP = timedelta(hours=1)


def signature(item: MemoryItem) -> str:
    """What the keyword row of ``item`` is built from, hashed: a row whose signature differs
    from the stored memory's is out of step (its content, type, date or session changed)."""
    created = int(as_utc(item.created_at).timestamp() * 1_000_000)
    text = "\x1f".join((item.content, item.type, str(created), item.session_id or ""))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


class SyncableIndex(KeywordIndex, Protocol):
    """What sync and rebuild need of an index beyond :class:`KeywordIndex` (the SQLite one)."""

    fresh: bool

    def count(self, user_id: str | None = None) -> int: ...
    def ids(self, user_id: str) -> set[str]: ...
    def signatures(self, user_id: str, ids: Sequence[str] | None = None) -> dict[str, str]: ...
    def users(self) -> set[str]: ...
    def has_links(self, user_id: str) -> bool: ...
    def linked(self, user_id: str, ids: Sequence[str]) -> set[str]: ...
    def prune_links(self, user_id: str, keep: set[str]) -> None: ...


def sync(index: SyncableIndex, store: VectorStore) -> str | None:
    """Bring ``index`` in step with ``store``; returns what it did, if anything.

    A new index (or one of an older format) is rebuilt. Otherwise every user's memories
    are compared with the index by id and signature (a hash of what a row is built from:
    content, type, date, session), not by count: a write and a delete that reached only
    the store leave the counts equal. Missing and changed rows are (re-)indexed, extra
    rows removed; the other rows, and the links between turns, are kept.
    """
    if index.fresh:
        rebuild(index, store)
        return "rebuilt"
    changed = False
    for user_id in sorted(set(store.users()) | index.users()):
        have = index.signatures(user_id)
        stored = list(store.iter_memories(user_id))
        wanted = {m.id for m in stored}
        extra = [i for i in have if i not in wanted]
        stale = [m for m in stored if have.get(m.id) != signature(m)]
        if extra:
            index.delete(user_id, extra)
        if stale:
            index.add(stale)
        if extra or stale:
            index.prune_links(user_id, wanted)
            changed = True
    return "synced" if changed else None


def apply(index: SyncableIndex, written: Sequence[MemoryItem]) -> int:
    """Index those of ``written`` (memories read back from the store, another process's
    writes) whose rows are missing or differ; returns how many. Rows already in step are
    left alone. New conversation turns that have no links here (the writer's links stay
    in its own index) are linked to the new turns around them, oldest first, as a
    rebuild guesses them."""
    by_user: dict[str, list[MemoryItem]] = {}
    for item in written:
        by_user.setdefault(item.user_id, []).append(item)
    done = 0
    for user_id, items in by_user.items():
        have = index.signatures(user_id, [m.id for m in items])
        stale = [m for m in items if have.get(m.id) != signature(m)]
        if not stale:
            continue
        new = [m for m in stale if m.id not in have]
        linked = index.linked(user_id, [m.id for m in new]) if new else set()
        turns = sorted(
            (m for m in new if m.type == "episodic" and m.id not in linked),
            key=lambda m: (as_utc(m.created_at), m.id),
        )
        if turns:
            index.add(turns, conversation_neighbours(turns))
        chosen = {m.id for m in turns}
        rest = [m for m in stale if m.id not in chosen]
        if rest:
            index.add(rest)
        done += len(stale)
    return done


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
