"""A property-based attack on user isolation, for any storage backend.

Hypothesis drives random sequences of write, refresh, retrieve, list, get, forget,
forget_user, purge, import and snapshot create/restore through a real
:class:`~llm_memory.manager.MemoryManager` (with its keyword side and history log), by
users whose ids, and with memory ids, drawn from adversarial alphabets: quotes,
backslashes, SQL and filter fragments, ``%``, ``*``, NUL, path fragments, lookalikes.
A model holds what each user should have; after every step every user's memories are
compared with it. An id the validator refuses must be refused in one line and change
nothing; an id it accepts is data: no user reads, changes or loses another's memory.

A backend's tests run it with a factory of EMPTY stores (called once per example)::

    from llm_memory_testing.isolation import run_isolation

    def test_isolation(tmp_path):
        n = itertools.count()
        run_isolation(lambda: MyStore(tmp_path / f"db{next(n)}"), max_examples=10)
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from llm_memory import validation
from llm_memory.errors import LLMMemoryError, NotFound, ValidationFailed
from llm_memory.models import memory_key, utcnow
from llm_memory.storage import VectorStore

__all__ = [
    "CONTENTS",
    "MEMORY_IDS",
    "USER_IDS",
    "IsolationMachine",
    "IsolationRun",
    "run_isolation",
]

#: User ids an attacker would try; the validator accepts some (they are data) and refuses
#: the others (empty, padded, NUL, zero-width joiner, too long, lone surrogate, newline).
USER_IDS = [
    "alice", "Alice", "\uff41\uff4c\uff49\uff43\uff45", "\u0430lice", "bob",
    "' OR 1=1 --", "x\\')) OR ((1=1)) --", '{"$ne": null}', '{"$in": ["alice"]}',
    "%", "*", "_", "alice%", "al_ce", "../../etc", "..", "a/b", "C:\\tmp", "\\", "'", '"',
    "user_id = 'alice'", "alice' --", "x" * 128,
    "", " alice", "alice ", "a\x00b", "a\u200db", "x" * 129, "\ud800", "a\nb",
]  # fmt: skip
#: Memory ids for imports and lookups: the valid shape, and what must be refused.
MEMORY_IDS = [
    "m1", "M1", "a.b:c-d", "_x", "0", "m" * 128,
    "' OR 1=1 --", "x\\')) OR ((1=1)) --", "../../etc", ".journal", "-x", "%", "*", "m1 ",
    "m\x001", "m" * 129, "", '{"$ne": null}', "m1' OR '1'='1",
]  # fmt: skip
#: Contents, so that writes collide (a refresh) and queries match.
CONTENTS = [
    "Alice keeps bees", "' OR 1=1 --", '{"$ne": null} is a filter', "100% sure * wildcard",
    "x\\')) OR ((1=1)) -- ends the literal", "NULL", "DROP TABLE memories;",
    "\uff41\uff4c\uff49\uff43\uff45 likes tea", "path ../../etc/passwd", "_ and % in LIKE",
]  # fmt: skip
_ALPHABET = st.sampled_from(list("aA'\"\\%*_-;=(){}$ /.:\x00\u200b\uff41\u0430\u00e9"))
OLD = datetime(2001, 1, 1, tzinfo=UTC)  # older than any retention: purge removes it
RETENTION_DAYS = 30

users = st.one_of(st.sampled_from(USER_IDS), st.text(_ALPHABET, max_size=4))
memory_ids = st.one_of(st.sampled_from(MEMORY_IDS), st.text(_ALPHABET, max_size=4))
contents = st.one_of(
    st.sampled_from(CONTENTS),
    st.text(_ALPHABET.filter(lambda c: c != "\x00"), min_size=1).filter(str.strip),
)
importances = st.sampled_from([0.1, 0.5, 0.9])
tags = st.one_of(
    st.sampled_from(["", "' OR 1=1 --", "*", "%", "\\'", "a\x00b"]), st.text(_ALPHABET)
)


@dataclass
class Stored:
    """What the model expects of one memory."""

    content: str
    importance: float
    metadata: dict[str, Any]
    fresh: bool  # used within RETENTION_DAYS: purge keeps it

    def seen(self) -> tuple[str, float, dict[str, Any]]:
        return self.content, self.importance, self.metadata


@dataclass
class IsolationRun:
    """What :func:`run_isolation` did: examples (fresh stores) and steps run."""

    examples: int = 0
    steps: int = 0
    refused: int = 0
    restores: int = 0


Model = dict[str, dict[str, Stored]]


def valid_user(user: Any) -> bool:
    return validation.name_problem(user, validation.USER_ID_MAX) is None


def _one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc), f"the error is not one line: {exc!r}"


class IsolationMachine(RuleBasedStateMachine):
    """The state machine; :func:`run_isolation` binds ``open_store`` and runs it."""

    open_store: ClassVar[Callable[[], VectorStore]]
    discard: ClassVar[Callable[[VectorStore], None] | None] = None
    tally: ClassVar[IsolationRun]

    def __init__(self) -> None:
        super().__init__()
        from llm_memory.embedding.hash import HashEmbedder
        from llm_memory.history import open_history_log
        from llm_memory.keyword import keyword_side_for
        from llm_memory.manager import MemoryManager
        from llm_memory.settings import load_settings
        from llm_memory.snapshot.local import LocalSnapshotStore

        self.dir = Path(tempfile.mkdtemp(prefix="llm-memory-isolation-"))
        config = load_settings(
            vector_store_dir=self.dir / "stores",
            snapshot_dir=self.dir / "snapshots",
            retention_days=RETENTION_DAYS,
        )
        self.store = type(self).open_store()
        self.manager = MemoryManager(
            self.store,
            HashEmbedder(dimension=32),
            keyword_index=keyword_side_for(self.store, config),
            history_log=open_history_log(self.store, config),
            snapshot_store=LocalSnapshotStore(self.dir / "snapshots"),
            settings=config,
        )
        self.model: Model = {}
        self.saved: list[tuple[str, str | None, Model]] = []
        self.tally.examples += 1

    def teardown(self) -> None:
        try:
            if self.discard is not None:
                type(self).discard(self.store)  # type: ignore[misc]
        finally:
            self.manager.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------
    def _mine(self, user: str) -> dict[str, Stored]:
        return self.model.setdefault(user, {})

    def _refused(
        self, call: Callable[[], Any], kinds: type[BaseException] = ValidationFailed
    ) -> None:
        before = copy.deepcopy(self.model)
        try:
            call()
        except kinds as exc:
            _one_line(exc)
        else:
            raise AssertionError("an invalid request was accepted")
        self.tally.refused += 1
        assert self.model == before

    def _known_ids(self) -> list[str]:
        return sorted({mid for mine in self.model.values() for mid in mine})

    # -- rules -----------------------------------------------------------------------
    @rule(user=users, content=contents, importance=importances, tag=tags)
    def write(self, user: str, content: str, importance: float, tag: str) -> None:
        meta = {"tag": tag}
        call = lambda: self.manager.write_memory(  # noqa: E731
            content, user, importance=importance, metadata=meta
        )
        if not valid_user(user) or "\x00" in tag:  # NUL is refused in any text
            self._refused(call)
            return
        item = call()
        assert item.user_id == user and item.content == content.strip()
        self._wrote(user, item.id, item.content, importance, meta, fresh=True)

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), importance=importances)
    def refresh(self, data: st.DataObject, importance: float) -> None:
        """Write again what a user already holds: the same id, nobody else touched."""
        user = data.draw(st.sampled_from(sorted(u for u, mine in self.model.items() if mine)))
        mid, stored = data.draw(st.sampled_from(sorted(self.model[user].items())))
        item = self.manager.write_memory(stored.content, user, importance=importance)
        assert item.id == memory_key(user, stored.content, "semantic", None, OLD)
        assert mid != item.id or item.content == stored.content
        self._wrote(user, item.id, stored.content, importance, {}, fresh=True)

    def _wrote(
        self,
        user: str,
        mid: str,
        content: str,
        importance: float,
        meta: dict[str, Any],
        fresh: bool,
    ) -> None:
        mine = self._mine(user)
        if mid in mine:  # a refresh keeps the content, merges the metadata
            old = mine[mid]
            mine[mid] = Stored(
                old.content, importance, {**old.metadata, **meta}, old.fresh or fresh
            )
        else:
            mine[mid] = Stored(content, importance, dict(meta), fresh)

    @rule(
        lines=st.lists(
            st.tuples(
                users, st.one_of(st.none(), memory_ids), contents, importances,
                st.sampled_from(["none", "old", "future"]),
            ),
            min_size=1, max_size=3,
        ),
        into=st.one_of(st.none(), users),
    )  # fmt: skip
    def import_(self, lines: list[tuple[Any, ...]], into: str | None) -> None:
        import json

        rows, expected = [], []
        valid = into is None or valid_user(into)
        for user, mid, content, importance, when in lines:
            row: dict[str, Any] = {"user_id": user, "content": content, "importance": importance}
            if mid is not None:
                row["id"] = mid
            if when != "none":
                row["created_at"] = (
                    OLD if when == "old" else utcnow() + timedelta(days=3)
                ).isoformat()
            rows.append(json.dumps(row))
            owner = user if into is None else into
            if into is not None and user != into:
                mid = None  # another user's line is imported as new: a fresh id
            valid = valid and valid_user(owner) and when != "future"
            valid = valid and (not mid or validation.is_memory_id(mid))
            if valid:
                natural = memory_key(owner, content.strip(), "semantic", None, OLD)
                expected.append((owner, mid or natural, content.strip(), importance, when != "old"))
        call = lambda: self.manager.import_(rows, user_id=into)  # noqa: E731
        if not valid:
            self._refused(call)
            return
        assert call() == len(rows)
        last = {(owner, mid): row for owner, mid, *row in expected}  # within a batch, the last wins
        for (owner, mid), (content, importance, fresh) in last.items():
            self._wrote(owner, mid, content, importance, {}, fresh)

    @rule(user=users, query=contents)
    def retrieve(self, user: str, query: str) -> None:
        if not valid_user(user):
            self._refused(lambda: self.manager.retrieve(query, user, limit=5))
            return
        mine = self.model.get(user, {})
        for hit in self.manager.retrieve(query, user, limit=5):
            got = hit.memory
            assert got.user_id == user, f"{user!r} retrieved a memory of {got.user_id!r}"
            assert got.id in mine and mine[got.id].content == got.content
            mine[got.id].fresh = True  # a retrieval counts as a use

    @rule(user=users, page=st.integers(1, 3))
    def list_paged(self, user: str, page: int) -> None:
        if not valid_user(user):
            self._refused(lambda: self.manager.list(user))
            return
        seen: list[str] = []
        while batch := self.manager.list(user, limit=page, offset=len(seen)):
            assert {m.user_id for m in batch} == {user}
            seen += [m.id for m in batch]
        assert sorted(seen) == sorted(self.model.get(user, {}))

    @rule(user=users, data=st.data())
    def get(self, user: str, data: st.DataObject) -> None:
        mid = data.draw(st.one_of(memory_ids, st.sampled_from(self._known_ids() or ["m1"])))
        call = lambda: self.manager.get(mid, user)  # noqa: E731
        if not valid_user(user) or not validation.is_memory_id(mid):
            self._refused(call)
            return
        mine = self.model.get(user, {})
        if mid not in mine:
            self._refused(call, NotFound)
            return
        got = call()
        assert got.user_id == user and (got.content, got.importance) == mine[mid].seen()[:2]

    @rule(user=users, data=st.data())
    def forget(self, user: str, data: st.DataObject) -> None:
        mid = data.draw(st.one_of(memory_ids, st.sampled_from(self._known_ids() or ["m1"])))
        call = lambda: self.manager.forget(mid, user)  # noqa: E731
        if not valid_user(user) or not validation.is_memory_id(mid):
            self._refused(call)
            return
        mine = self.model.get(user, {})
        assert call() == (mid in mine)
        mine.pop(mid, None)

    @rule(user=users)
    def forget_user(self, user: str) -> None:
        if not valid_user(user):
            self._refused(lambda: self.manager.forget_user(user))
            return
        assert self.manager.forget_user(user) == len(self.model.get(user, {}))
        self.model.pop(user, None)

    @rule()
    def purge(self) -> None:
        stale = [
            (u, mid) for u, mine in self.model.items() for mid, s in mine.items() if not s.fresh
        ]
        assert self.manager.purge(RETENTION_DAYS) == len(stale)
        for user, mid in stale:
            del self.model[user][mid]

    @rule(user=st.one_of(st.none(), users))
    def snapshot(self, user: str | None) -> None:
        call = lambda: self.manager.snapshots.create(user)  # noqa: E731
        if user is not None and not valid_user(user):
            self._refused(call)
            return
        ref = call()
        part = self.model if user is None else {user: self.model.get(user, {})}
        self.saved.append((ref.id, user, copy.deepcopy(part)))

    @precondition(lambda self: bool(self.saved))
    @rule(data=st.data(), user=st.one_of(st.none(), users))
    def restore(self, data: st.DataObject, user: str | None) -> None:
        snapshot_id, scope, part = data.draw(st.sampled_from(self.saved))
        call = lambda: self.manager.snapshots.restore(snapshot_id, user_id=user)  # noqa: E731
        if user is not None and (not valid_user(user) or scope not in (None, user)):
            self._refused(call, LLMMemoryError)
            return
        result = call()
        self.tally.restores += 1
        if scope is None and user is None:
            self.model = copy.deepcopy(part)
            assert result.restored == sum(len(mine) for mine in self.model.values())
        else:
            whose = user if user is not None else scope
            assert whose is not None
            self.model[whose] = copy.deepcopy(part.get(whose, {}))
            assert result.restored == len(self.model[whose])

    @rule(
        snapshot_id=st.sampled_from(
            ["../x", ".journal", "..", "a/b", "x" * 200, "20990101T000000Z-abcdef", "' OR 1=1 --"]
        )
    )
    def restore_bad_id(self, snapshot_id: str) -> None:
        self._refused(lambda: self.manager.snapshots.restore(snapshot_id), LLMMemoryError)

    # -- the property ----------------------------------------------------------------
    @invariant()
    def every_user_holds_exactly_their_own(self) -> None:
        self.tally.steps += 1
        holding = {u for u, mine in self.model.items() if mine}
        assert set(self.manager.users()) == holding
        for user in holding:
            found = self.manager.list(user, limit=1000)
            assert {m.user_id for m in found} == {user}
            got = {m.id: (m.content, m.importance, m.metadata) for m in found}
            want = {mid: s.seen() for mid, s in self.model[user].items()}
            assert got == want, f"user {user!r}: the store holds {got}, expected {want}"


def run_isolation(
    open_store: Callable[[], VectorStore],
    *,
    discard: Callable[[VectorStore], None] | None = None,
    max_examples: int = 20,
    steps: int = 20,
) -> IsolationRun:
    """Run :class:`IsolationMachine` on stores from ``open_store`` (a new, EMPTY store each
    call); ``discard`` is called with each store before it is closed (drop a collection on
    a shared server). Returns what was run; raises with the shrunk failing steps."""
    tally = IsolationRun()
    machine = type(
        "Isolation",
        (IsolationMachine,),
        {
            "open_store": staticmethod(open_store),
            "discard": staticmethod(discard) if discard else None,
            "tally": tally,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    return tally
