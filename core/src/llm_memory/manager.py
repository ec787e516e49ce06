"""The memory engine: validated writes, hybrid retrieval, scoring, and housekeeping."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from llm_memory import validation
from llm_memory.access import AccessTracker
from llm_memory.embedding import Embedder, embed_checked
from llm_memory.errors import NotFound, ValidationFailed
from llm_memory.group_commit import Call, GroupCommit
from llm_memory.history import HistoryLog
from llm_memory.history.record import Changes, changed
from llm_memory.keyword.base import KeywordIndex
from llm_memory.models import (
    ConversationTurn,
    HistoryEvent,
    MemoryItem,
    ScoredMemory,
    as_utc,
    utcnow,
)
from llm_memory.rerank import Reranker
from llm_memory.retriever import Retriever
from llm_memory.scoring import Scorer
from llm_memory.settings import Settings, load_settings, validation_problems
from llm_memory.storage import PAGE, MemoryFilter, VectorStore
from llm_memory.storage.indexed import IndexedStore
from llm_memory.summarize import Summarizer
from llm_memory.vocab import MEMORY_TYPES

if TYPE_CHECKING:
    from llm_memory.portability import ImportResult
    from llm_memory.snapshot import SnapshotStore
    from llm_memory.snapshot.engine import Snapshots

Progress = Callable[[int], None]


class MemoryManager:
    """Long-term memory for one application: every call is scoped by ``user_id``.

    Build it from settings (``MemoryManager.from_settings(storage_backend="memory")``) or
    from ready objects (``MemoryManager(store, embedder)``). ``memories`` is the indexed
    store (the backend and its keyword side, written together); ``retriever`` answers
    :meth:`retrieve`.
    """

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        scorer: Scorer | None = None,
        *,
        reranker: Reranker | None = None,
        summarizer: Summarizer | None = None,
        snapshot_store: SnapshotStore | None = None,
        keyword_index: KeywordIndex | None = None,
        history_log: HistoryLog | None = None,
        settings: Settings | None = None,
    ) -> None:
        from llm_memory.scoring.weighted import WeightedScorer
        from llm_memory.summarize.extractive import ExtractiveSummarizer

        self.settings = settings or load_settings()
        self.memories = IndexedStore(store, keyword_index)
        self.embedder = embedder
        self.summarizer = summarizer or ExtractiveSummarizer()
        weight = self.settings.fusion_vector_weight
        self.retriever = Retriever(
            self.memories,
            embedder,
            scorer or WeightedScorer(),
            reranker,
            weights={
                "dense": embedder.fusion_weight if weight is None else weight,
                "keyword": self.settings.fusion_keyword_weight,
            },
            hybrid=self.settings.hybrid_search,
            pool=self.settings.retrieval_candidates,
            min_relevance=self.settings.min_relevance,
            block=self.settings.max_active_memories,
        )
        #: Where every change is recorded (see :mod:`llm_memory.history`). Built by
        #: ``from_settings`` beside the store; given ready objects, the store's own log or
        #: one in memory.
        self.history_log = history_log or _default_history_log(store, self.settings)
        self._changes = Changes(self.history_log)
        self._snapshot_store = snapshot_store
        self._snapshots: Snapshots | None = None
        self._access = AccessTracker(self.memories)
        self._group = GroupCommit(
            self._commit,
            self.memories.writing,
            window=self.settings.write_batch_window_ms / 1000,
            max_items=self.settings.write_batch_max_items,
        )
        self._finalizer = weakref.finalize(self, self._access.flush)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, config_file: str | None = None, **overrides: Any
    ) -> MemoryManager:
        """Build every part from settings (environment, ``llm-memory.toml``, overrides).

        ``overrides`` are settings by name (``storage_backend="lancedb"``) or a provider's own
        settings as a dict (``lancedb={"uri": "s3://…"}``); an unknown name is refused.
        """
        from llm_memory.plugins import build

        if settings is None:
            settings = load_settings(config_file, **overrides)
        elif overrides:
            settings = settings.with_overrides(**overrides)
        embedder = build("embedder", settings.embedding_provider, settings)
        embedder = _maybe_cached(embedder, settings)
        store = build("storage", settings.storage_backend, settings)
        scorer = build("scorer", settings.scorer, settings)
        reranker = build("reranker", settings.reranker, settings) if settings.reranker else None
        summarizer = build("summarizer", settings.summarizer, settings)
        keyword_index = None
        if settings.hybrid_search:
            from llm_memory.keyword import keyword_side_for

            keyword_index = keyword_side_for(store, settings)
        from llm_memory.history import open_history_log

        manager = cls(
            store,
            embedder,
            scorer,
            reranker=reranker,
            summarizer=summarizer,
            keyword_index=keyword_index,
            history_log=open_history_log(store, settings),
            settings=settings,
        )
        # A restore that a crash interrupted is finished (or undone) before anything else
        # reads this store, by whichever process opens it next.
        manager.snapshots.recover()
        return manager

    # -- parts -----------------------------------------------------------------------
    @property
    def store(self) -> VectorStore:
        """The storage backend (write through :attr:`memories`, which keeps keywords in step)."""
        return self.memories.backend

    @property
    def keyword_index(self) -> KeywordIndex | None:
        """The keyword index kept beside the store, or None (the store's own, or none)."""
        return self.memories.keywords

    @property
    def scorer(self) -> Scorer:
        return self.retriever.scorer

    @scorer.setter
    def scorer(self, scorer: Scorer) -> None:
        self.retriever.scorer = scorer

    @property
    def reranker(self) -> Reranker | None:
        return self.retriever.reranker

    @reranker.setter
    def reranker(self, reranker: Reranker | None) -> None:
        self.retriever.reranker = reranker

    @property
    def snapshot_store(self) -> SnapshotStore:
        if self._snapshot_store is None:
            from llm_memory.plugins import build

            self._snapshot_store = build("snapshot", self.settings.snapshot_store, self.settings)
        return self._snapshot_store

    @property
    def snapshots(self) -> Snapshots:
        """Snapshot operations: ``create``, ``list``, ``restore``, ``delete``, ``prune``."""
        if self._snapshots is None:
            from llm_memory.snapshot.engine import Snapshots

            self._snapshots = Snapshots(self)
        return self._snapshots

    # -- the embedder recorded with the data -------------------------------------------
    def check_embedder(self) -> None:
        """Refuse a store built with another embedder; stamp an empty or new one."""
        self.memories.check_embedder(self.embedder.info(), self.settings.collection)

    # -- writes ----------------------------------------------------------------------
    def write_memory(
        self,
        content: str,
        user_id: str,
        *,
        type: str = "semantic",
        importance: float = 0.5,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        actor: str | None = None,
    ) -> MemoryItem:
        """Store one memory (or refresh the identical one); returns what is stored.

        ``actor`` (here and on every write) is who the history records as making the change.
        """
        item: dict[str, Any] = {
            "content": content,
            "user_id": user_id,
            "type": type,
            "importance": importance,
            "session_id": session_id,
            "metadata": dict(metadata or {}),
        }
        if created_at is not None:
            item["created_at"] = created_at
        return self.write_memories([item], actor=actor)[0]

    def write_memories(
        self, items: Iterable[MemoryItem | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[MemoryItem]:
        """Validate every item, then store them with one embedding call.

        All or nothing: one invalid item, or a failed embedding call, writes nothing.
        Identical content for the same user refreshes the stored memory's importance and
        ``updated_at`` instead of storing it twice. Calls from concurrent threads are
        committed together (see :mod:`llm_memory.group_commit`); each returns once its
        batch is stored.
        """
        batch = self._validated(items)
        if not batch:
            return []
        self.check_embedder()
        if self.memories.writer_held():  # inside writing() (a restore): no one to wait for
            return self._commit_now([Call(batch, actor)])
        return self._group.submit(batch, actor)

    def _validated(self, items: Iterable[MemoryItem | Mapping[str, Any]]) -> list[MemoryItem]:
        """The model's checks, then the id's shape, the metadata limits and no future time."""
        batch, now = _validate_items(items), utcnow()
        for i, item in enumerate(batch):
            try:
                validation.check_item(
                    item, now, self.settings.max_metadata_keys, self.settings.max_metadata_bytes
                )
            except ValidationFailed as exc:
                raise ValidationFailed(
                    f"{_which(i, len(batch))} is invalid, nothing was written: {exc}"
                ) from exc
        return batch

    def _commit_now(
        self, calls: list[Call], neighbours: Mapping[tuple[str, str], Sequence[str]] | None = None
    ) -> list[MemoryItem]:
        with self.memories.writing():
            self._commit(calls, neighbours)
        return calls[0].outcome()

    def _commit(
        self, calls: list[Call], neighbours: Mapping[tuple[str, str], Sequence[str]] | None = None
    ) -> None:
        """Store the validated items of every call as one batch (one embedding call, one
        upsert, one keyword transaction, one history append), as if the calls ran one
        after the other: a later call refreshes what an earlier one stored.

        ``neighbours`` links conversation turns (``(user_id, id)`` to the ids around it).
        Call it holding the writer lock.
        """
        memories = self.memories
        keys = {(i.user_id, i.id) for call in calls for i in call.items}
        known = memories.known(keys)
        existing = {(m.user_id, m.id): m for m in memories.get_many(known)} if known else {}
        state: dict[tuple[str, str], MemoryItem] = {}
        created: dict[tuple[str, str], None] = {}
        written = []
        for call in calls:
            fresh, refreshed = [], []
            latest = {(i.user_id, i.id): i for i in call.items}  # the last one wins
            for key, item in latest.items():
                before = state.get(key) or existing.get(key)
                if before is None:
                    state[key] = item
                    created[key] = None
                    fresh.append(item)
                else:
                    state[key] = _refresh(before, item)
                    refreshed.append((before, state[key]))
            call.result = [state[(i.user_id, i.id)] for i in call.items]
            written.append((fresh, refreshed, call.actor))
        new = [state[key] for key in created]
        changed = [item for key, item in state.items() if key not in created]
        vectors = embed_checked(self.embedder, [i.content for i in new]) if new else []
        memories.write(new, vectors, changed, neighbours)
        self._changes.written_calls(written)

    def ingest_conversation(
        self,
        messages: Iterable[Any],
        user_id: str,
        session_id: str | None = None,
        *,
        actor: str | None = None,
    ) -> list[MemoryItem]:
        """Store each turn as an ``episodic`` memory with its own time and metadata.

        A turn is a :class:`ConversationTurn`, a mapping, or an object with the same
        attributes. Its speaker (or role) prefixes the content: ``"Alice: I moved to Oslo"``.
        Turns without a timestamp keep their order (a microsecond apart, from now).
        """
        base = utcnow()
        items: list[dict[str, Any]] = []
        for i, message in enumerate(messages):
            try:
                turn = _as_turn(message)
            except ValidationError as exc:
                raise ValidationFailed(f"Turn #{i + 1}: {validation_problems(exc)}") from exc
            speaker = turn.speaker or turn.role
            items.append(
                {
                    "user_id": user_id,
                    "type": "episodic",
                    "importance": turn.importance,
                    "content": f"{speaker}: {turn.content}" if speaker else turn.content,
                    "created_at": turn.timestamp or base + timedelta(microseconds=i),
                    "session_id": turn.session_id or session_id,
                    "metadata": turn.metadata,
                }
            )
        batch = self._validated(items)
        if not batch:
            return []
        self.check_embedder()
        from llm_memory.keyword import conversation_neighbours

        keys = [(t.user_id, t.id) for t in batch]
        neighbours = dict(zip(keys, conversation_neighbours(batch), strict=True))
        return self._commit_now([Call(batch, actor)], neighbours)

    def update_memory(
        self,
        memory_id: str,
        user_id: str,
        content: str | None = None,
        type: str | None = None,
        importance: float | None = None,
        *,
        actor: str | None = None,
    ) -> MemoryItem:
        """Change a memory's content, type or importance; returns the stored memory.

        The id stays: it names the memory for its whole life, not its words. New content
        is embedded and indexed again (both searches find the new words, not the old).
        The old and new values are recorded in the history.
        """
        self.check_embedder()
        with self.memories.writing() as memories:
            before = self.get(memory_id, user_id)
            after = changed(before, content, type, importance)
            if (after.content, after.type, after.importance) == (
                before.content,
                before.type,
                before.importance,
            ):
                return before
            self._refuse_duplicate(after)
            after = after.model_copy(update={"id": before.id, "updated_at": utcnow()})
            if after.content != before.content:
                memories.upsert([after], embed_checked(self.embedder, [after.content]))
            else:
                memories.update([after])
            self._changes.updated(before, after, actor)
        return after

    def _refuse_duplicate(self, item: MemoryItem) -> None:
        """An update must not make a memory say exactly what another one says."""
        twin = item.model_copy(update={"id": ""})
        twin = MemoryItem.model_validate(twin.model_dump())
        if twin.id != item.id and self.memories.get(item.user_id, [twin.id]):
            raise ValidationFailed(
                f"Memory {twin.id!r} of user {item.user_id!r} already says this; forget "
                f"{item.id!r} instead of updating it."
            )

    # -- reads -----------------------------------------------------------------------
    def retrieve(
        self,
        query: str,
        user_id: str,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        now: datetime | None = None,
        *,
        min_relevance: float | None = None,
    ) -> list[ScoredMemory]:
        """The memories most worth bringing back for ``query``, best first.

        Memories are chosen by relevance alone (vector search fused with keyword search,
        then the reranker if any), and those whose relevance is below ``min_relevance``
        (default ``MIN_RELEVANCE``; 0 keeps all) are dropped. The scorer orders them with
        importance and recency measured from ``now``, ``MAX_ACTIVE_MEMORIES`` at a time,
        so ``limit=k`` gives the first ``k`` of a larger ``limit``. Relevance is absolute,
        in [0, 1]: see :mod:`llm_memory.retrieval`.
        """
        if not isinstance(query, str) or not query.strip():
            raise ValidationFailed("The query is empty: pass the text to search for.")
        validation.text(query, "query")
        flt = _filter(user_id, types)
        limit = self.settings.max_active_memories if limit is None else limit
        if not 1 <= limit <= 1000:
            raise ValidationFailed(f"limit must be between 1 and 1000, got {limit}.")
        if min_relevance is not None and not (
            isinstance(min_relevance, int | float) and 0.0 <= min_relevance <= 1.0
        ):
            raise ValidationFailed(
                f"min_relevance must be a number between 0 and 1, got {min_relevance!r}."
            )
        self.check_embedder()
        when = as_utc(now) if now else utcnow()
        scored = self.retriever.retrieve(query, flt, limit, when, min_relevance)
        self._access.touch(scored, utcnow())
        return scored

    def get(self, memory_id: str, user_id: str) -> MemoryItem:
        validation.memory_id(memory_id)
        self._access.flush()
        found = self.memories.get(validation.owner(user_id), [memory_id])
        if not found:
            raise NotFound(f"No memory {memory_id!r} for user {user_id!r}.")
        return found[0]

    def list(
        self,
        user_id: str,
        *,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        session_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MemoryItem]:
        """This user's memories, oldest first, paginated."""
        self._access.flush()
        flt = _filter(user_id, types, since, until, session_id)
        if limit < 1 or offset < 0:
            raise ValidationFailed("limit must be at least 1 and offset at least 0.")
        return self.memories.list(flt, limit=limit, offset=offset)

    def iter_memories(self, user_id: str, page: int = PAGE) -> Iterator[MemoryItem]:
        """Every memory of one user, oldest first, fetched a page at a time."""
        self._access.flush()
        return self.memories.iter_memories(validation.owner(user_id), page)

    def users(self) -> list[str]:
        return self.memories.users()

    def history(self, memory_id: str, user_id: str) -> list[HistoryEvent]:
        """Every recorded change to this memory of this user, oldest first.

        Kept after the memory is forgotten (until ``purge`` drops it after
        ``RETENTION_DAYS``); a memory that superseded another (an agent's correction) starts
        with the history of the one it replaced.
        """
        validation.memory_id(memory_id)
        owner = validation.owner(user_id)
        events = self._changes.history(owner, memory_id)
        if not events:
            # A commit in flight on another thread stores the memory, then its history,
            # under the writer lock (readers go on meanwhile): a memory just listed may not
            # have its history yet. Wait for that commit before saying there is none.
            with self.memories.writing():
                events = self._changes.history(owner, memory_id)
        if not events:
            raise NotFound(f"No memory {memory_id!r} and no history of one for user {user_id!r}.")
        return events

    # -- deletes and housekeeping ------------------------------------------------------
    def forget(
        self,
        memory_id: str,
        user_id: str,
        *,
        actor: str | None = None,
        superseded_by: str | None = None,
    ) -> bool:
        """Delete one memory of this user; False if the user has no such memory.

        ``superseded_by``: the id of the memory that corrects this one; the history records
        a supersession (the old value stays readable through the new memory's history).
        """
        validation.memory_id(memory_id)
        with self.memories.writing() as memories:
            found = memories.get(validation.owner(user_id), [memory_id])
            removed = memories.delete(validation.owner(user_id), [memory_id]) > 0
            if found and removed:
                kind = "forgotten" if superseded_by is None else "superseded"
                self._changes.removed(kind, found, actor, superseded_by)
        return removed

    def forget_user(self, user_id: str) -> int:
        """Delete every memory of this user, and their history; returns how many there were."""
        with self.memories.writing() as memories:
            removed = memories.delete_user(validation.owner(user_id))
            self.history_log.delete_user(validation.owner(user_id))
        return removed

    def purge(self, retention_days: int | None = None, now: datetime | None = None) -> int:
        """Delete memories not used (retrieved or refreshed) within ``retention_days``, and
        the history of memories removed longer ago than that."""
        days = self.settings.retention_days if retention_days is None else retention_days
        if days < 1:
            raise ValidationFailed("retention_days must be at least 1.")
        cutoff = (as_utc(now) if now else utcnow()) - timedelta(days=days)
        removed = 0
        for user_id in self.users():
            stale = [
                m
                for m in self.iter_memories(user_id)
                if max(m.updated_at or m.created_at, m.last_accessed_at or m.created_at) < cutoff
            ]
            for start in range(0, len(stale), PAGE):
                chunk = stale[start : start + PAGE]
                ids = [m.id for m in chunk]
                with self.memories.writing() as memories:
                    removed += memories.delete(user_id, ids)
                    self._changes.removed("purged", chunk, "retention")
        with self.memories.writing():
            self.history_log.purge(cutoff)
        return removed

    def stats(self) -> dict[str, Any]:
        """Counts by user and type, the backend, the embedder and its usage."""
        self._access.flush()
        users: dict[str, dict[str, int]] = {}
        for user_id in self.users():
            counts = dict.fromkeys(MEMORY_TYPES, 0)
            for m in self.iter_memories(user_id):
                counts[m.type] += 1
            users[user_id] = {**counts, "total": sum(counts.values())}
        with self.memories.reading() as memories:
            recorded = memories.embedding_info()
            storage = memories.describe()
        from llm_memory.keyword import SqliteKeywordIndex, describe_keyword_side

        return {
            "storage": storage,
            "keyword_index": describe_keyword_side(
                self.store, self.keyword_index, self.settings.hybrid_search
            ),
            "keyword_freshness": (
                self.keyword_index.freshness()
                if isinstance(self.keyword_index, SqliteKeywordIndex)
                else None
            ),
            "embedder": self.embedder.info().model_dump(),
            "recorded_embedder": recorded.model_dump() if recorded else None,
            "embedding_usage": self.embedder.usage.as_dict(),
            "embedding_usage_total": _usage_totals(self.embedder),
            "total": sum(u["total"] for u in users.values()),
            "users": users,
        }

    # -- portability (JSONL) -------------------------------------------------------------
    def export(self, user_id: str | None = None) -> Iterator[str]:
        """Memories as JSON lines (content and metadata; vectors are recomputed on import)."""
        from llm_memory.portability import export_lines

        self._access.flush()
        return export_lines(self.memories, user_id)

    def import_(
        self,
        lines: Iterable[str | bytes],
        user_id: str | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import JSON lines from :meth:`export`; validates every line (as a write would:
        the id, the metadata limits, no future time) before writing any. Returns how many,
        an ``int`` with ``new`` and ``refreshed`` (already stored) counts."""
        from llm_memory.portability import import_lines

        now, settings = utcnow(), self.settings

        def check(item: MemoryItem) -> None:
            validation.check_item(
                item, now, settings.max_metadata_keys, settings.max_metadata_bytes
            )

        def stored(keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
            known = self.memories.known(keys)
            return {(m.user_id, m.id) for m in self.memories.get_many(known)} if known else set()

        return import_lines(
            self.write_memories, lines, user_id, progress, check=check, stored=stored
        )

    def reindex(self, progress: Progress | None = None) -> int:
        """Re-embed every memory with the configured embedder; returns how many."""
        from llm_memory.portability import reindex

        self._access.flush()
        return reindex(self.memories, self.embedder, progress)

    def flush(self) -> None:
        """Write pending access statistics now."""
        self._access.flush()

    def close(self) -> None:
        self._access.flush()
        self.history_log.close()
        self.memories.close()

    def __enter__(self) -> MemoryManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- helpers ---------------------------------------------------------------------------
def _maybe_cached(embedder: Embedder, settings: Settings) -> Embedder:
    try:
        from llm_memory.embedding.cache import wrap_if_enabled
    except ImportError:  # pragma: no cover - the cache module ships with the core
        return embedder
    return wrap_if_enabled(embedder, settings)


def _usage_totals(embedder: Embedder) -> dict[str, int] | None:
    """Running totals kept in the embedding cache (across processes), when it is on."""
    totals = getattr(embedder, "usage_totals", None)
    return totals() if callable(totals) else None


def _keyword_index_for(store: VectorStore, settings: Settings) -> KeywordIndex | None:
    """Kept for callers of the old name: :func:`llm_memory.keyword.keyword_side_for`."""
    from llm_memory.keyword import keyword_side_for

    return keyword_side_for(store, settings)


def _default_history_log(store: VectorStore, settings: Settings) -> HistoryLog:
    own = store.own_history_log(settings)
    if own is not None:
        return own
    from llm_memory.history.sqlite import SqliteHistoryLog

    return SqliteHistoryLog(":memory:")


def _filter(
    user_id: str,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session_id: str | None = None,
) -> MemoryFilter:
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        if not types:
            raise ValidationFailed("types is empty: omit it to include every type.")
        unknown = [t for t in types if t not in MEMORY_TYPES]
        if unknown:
            raise ValidationFailed(
                f"Unknown memory type {unknown[0]!r}; use one of {', '.join(MEMORY_TYPES)}."
            )
    if session_id is not None and validation.name_problem(session_id, validation.SESSION_ID_MAX):
        raise ValidationFailed(
            f"session_id {validation.name_problem(session_id, validation.SESSION_ID_MAX)}."
        )
    return MemoryFilter(
        user_id=validation.owner(user_id),
        types=tuple(types) if types else None,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        session_id=session_id,
    )


def _which(i: int, total: int) -> str:
    """How an error names item ``i`` of ``total``: no "#1" when there is only one."""
    return "The memory" if total == 1 else f"Memory #{i + 1}"


def _validate_items(items: Iterable[MemoryItem | Mapping[str, Any]]) -> list[MemoryItem]:
    batch = []
    items = list(items)
    for i, item in enumerate(items):
        try:
            batch.append(
                MemoryItem.model_validate(item if isinstance(item, MemoryItem) else dict(item))
            )
        except (ValidationError, TypeError, ValueError) as exc:
            detail = validation_problems(exc) if isinstance(exc, ValidationError) else str(exc)
            raise ValidationFailed(
                f"{_which(i, len(items))} is invalid, nothing was written: {detail}"
            ) from exc
    return batch


def _refresh(old: MemoryItem, new: MemoryItem) -> MemoryItem:
    updated_at = max(old.updated_at or old.created_at, new.updated_at or new.created_at)
    return old.model_copy(
        update={
            "importance": new.importance,
            "updated_at": updated_at,
            "metadata": {**old.metadata, **new.metadata},
        }
    )


def _as_turn(message: Any) -> ConversationTurn:
    if isinstance(message, ConversationTurn):
        return message
    if isinstance(message, Mapping):
        return ConversationTurn.model_validate(dict(message))
    return ConversationTurn.model_validate(message, from_attributes=True)
