"""The history contract: one test class every :class:`~llm_memory.history.HistoryLog` passes.

A backend that returns its own log from ``VectorStore.own_history_log`` subclasses
:class:`HistoryContract` and provides a ``log`` fixture yielding an EMPTY log::

    from llm_memory_testing import HistoryContract

    class TestMyHistory(HistoryContract):
        @pytest.fixture
        def log(self, store):
            log = store.own_history_log(load_settings())
            yield log
            log.close()

Set ``reopen_log`` (a callable closing the log and returning one on the same data) to test
persistence. Every test takes only ``log`` (and ``reopen_log``), so it can also be called
directly, as ``StorageContract.test_own_history_log`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent

__all__ = ["HistoryContract", "event"]

BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
ALICE, BOB = "alice", "bob"
#: Ids a careless backend might splice into a query or a pattern.
ODD_IDS = ["m'1", 'm"2', "m%", "m_", "m*", "m) OR (1=1", "m\\", "m\\' OR '1'='1", "ünï cödé"]
Reopen = Callable[[HistoryLog], HistoryLog]


def event(n: int, memory_id: str = "m1", user: str = ALICE, **fields: Any) -> HistoryEvent:
    """Event number ``n`` (id ``e<n>``), ``n`` seconds after the base time."""
    values: dict[str, Any] = {
        "id": f"e{n}",
        "memory_id": memory_id,
        "user_id": user,
        "kind": "created",
        "timestamp": BASE_TIME + timedelta(seconds=n),
        "new": {"content": f"memory {memory_id}", "type": "semantic", "importance": 0.5},
    }
    return HistoryEvent(**{**values, **fields})


def _ids(events: list[HistoryEvent]) -> list[str]:
    return [e.id for e in events]


class HistoryContract:
    """What every history log must do; subclass it and provide a ``log`` fixture."""

    @pytest.fixture
    def log(self) -> Iterator[HistoryLog]:
        """Override: yield an empty log of the backend under test, close it afterwards."""
        raise NotImplementedError("Subclasses of HistoryContract must define a `log` fixture.")

    @pytest.fixture
    def reopen_log(self) -> Reopen | None:
        """Override for persistent logs: close the given log, return one on the same data."""
        return None

    def test_events_round_trip_in_order(self, log: HistoryLog) -> None:
        """Every field comes back equal; events are ordered by time, then id."""
        later = event(3, kind="updated", old={"content": "a"}, new={"content": "b"}, actor="cli")
        removed = event(
            4, kind="superseded", old={"content": "b", "importance": 0.25}, new=None
        ).model_copy(update={"related_id": "m2"})
        log.append([later, event(1), removed, event(2, kind="refreshed", new=None)])
        got = log.events(ALICE, ["m1"])
        assert _ids(got) == ["e1", "e2", "e3", "e4"]
        assert got[2] == later and got[3] == removed
        assert got[0].timestamp == BASE_TIME + timedelta(seconds=1)
        tie = [event(9, timestamp=BASE_TIME, memory_id="t"), event(8, memory_id="t")]
        log.append([tie[1].model_copy(update={"timestamp": BASE_TIME}), tie[0]])
        assert _ids(log.events(ALICE, ["t"])) == ["e8", "e9"]

    def test_append_is_idempotent_by_event_id(self, log: HistoryLog) -> None:
        """Appending an event already stored (a restore merging) keeps one copy."""
        log.append([event(1), event(2)])
        log.append([event(1), event(2), event(3)])
        assert _ids(log.events(ALICE, ["m1"])) == ["e1", "e2", "e3"]

    def test_reads_are_scoped_by_user(self, log: HistoryLog) -> None:
        """Two users' events of the same memory id never mix, in any read or delete."""
        log.append([event(1), event(2, user=BOB), event(3, memory_id="m2")])
        assert _ids(log.events(ALICE, ["m1", "m2"])) == ["e1", "e3"]
        assert _ids(log.events(BOB, ["m1", "m2"])) == ["e2"]
        assert _ids(list(log.user_events(BOB))) == ["e2"]
        assert log.users() == [ALICE, BOB]
        assert log.delete(BOB, ["m2"]) == 0
        assert log.delete_user(BOB) == 1
        assert _ids(log.events(ALICE, ["m1", "m2"])) == ["e1", "e3"]
        assert log.users() == [ALICE]

    def test_odd_ids_are_values_not_query_text(self, log: HistoryLog) -> None:
        """Quotes, wildcards and SQL fragments in ids and user ids match only themselves."""
        log.append([event(n, memory_id=mid) for n, mid in enumerate(ODD_IDS)])
        log.append([event(50, user="a' OR '1'='1"), event(51, user="%")])
        for n, mid in enumerate(ODD_IDS):
            assert _ids(log.events(ALICE, [mid])) == [f"e{n}"]
        assert log.events(ALICE, ["m"]) == [] and log.events("%", ["m%"]) == []
        assert _ids(log.events("a' OR '1'='1", ["m1"])) == ["e50"]
        assert log.delete(ALICE, ["m%"]) == 1
        assert log.delete(ALICE, ["m\\' OR '1'='1"]) == 1
        assert len(log.events(ALICE, ODD_IDS)) == len(ODD_IDS) - 2

    def test_replaced_by_follows_supersessions(self, log: HistoryLog) -> None:
        """``replaced_by(user, new)`` lists the memories superseded by ``new``, for that user."""
        log.append(
            [
                event(1, kind="superseded", memory_id="old1", related_id="new"),
                event(2, kind="superseded", memory_id="old2", related_id="new"),
                event(3, kind="created", memory_id="x", related_id="new"),
                event(4, kind="superseded", memory_id="bobs", related_id="new", user=BOB),
            ]
        )
        assert log.replaced_by(ALICE, "new") == ["old1", "old2"]
        assert log.replaced_by(BOB, "new") == ["bobs"]
        assert log.replaced_by(ALICE, "old1") == []

    def test_delete_and_purge(self, log: HistoryLog) -> None:
        """``delete`` erases named memories' events; ``purge`` those removed before a time."""
        log.append([event(1, memory_id="gone"), event(2, memory_id="gone", kind="forgotten")])
        log.append([event(3, memory_id="kept"), event(4, memory_id="kept", kind="updated")])
        log.append([event(5, memory_id="late"), event(90, memory_id="late", kind="purged")])
        log.append([event(6, memory_id="back", kind="forgotten"), event(7, memory_id="back")])
        assert log.purge(BASE_TIME + timedelta(seconds=60)) == 2
        assert log.events(ALICE, ["gone"]) == []
        assert len(log.events(ALICE, ["kept", "late", "back"])) == 6
        assert log.delete(ALICE, ["kept", "nothing"]) == 2
        assert _ids(list(log.user_events(ALICE))) == ["e5", "e6", "e7", "e90"]
        log.clear()
        assert log.users() == []

    def test_history_survives_reopening(self, log: HistoryLog, reopen_log: Reopen | None) -> None:
        """A log that persists keeps its events across ``close()`` and reopening."""
        if reopen_log is None:
            pytest.skip("no reopen_log fixture: the log is not persistent")
        log.append([event(1), event(2, kind="forgotten", old={"content": "x"}, new=None)])
        log = reopen_log(log)
        assert _ids(log.events(ALICE, ["m1"])) == ["e1", "e2"]
        assert log.events(ALICE, ["m1"])[1].old == {"content": "x"}
