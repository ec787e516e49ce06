"""Turning the manager's writes into history events, and reading a memory's history back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from llm_memory.errors import ValidationFailed
from llm_memory.history import HistoryLog
from llm_memory.models import HistoryEvent, HistoryKind, MemoryItem, utcnow

__all__ = ["TRACKED", "Changes", "changed", "values"]

#: The fields a history event records.
TRACKED = ("content", "type", "importance")
#: How far back a chain of supersessions is followed.
MAX_CHAIN = 50


def values(item: MemoryItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in TRACKED}


def changed(
    item: MemoryItem, content: str | None, type: str | None, importance: float | None
) -> MemoryItem:
    """``item`` with the given fields replaced, validated like any write."""
    wanted = {
        name: value
        for name, value in (("content", content), ("type", type), ("importance", importance))
        if value is not None
    }
    if not wanted:
        raise ValidationFailed("Nothing to update: give content, type or importance.")
    from pydantic import ValidationError

    from llm_memory.settings import validation_problems

    try:
        return MemoryItem.model_validate({**item.model_dump(), **wanted})
    except ValidationError as exc:
        raise ValidationFailed(
            f"Memory {item.id!r} was not updated: {validation_problems(exc)}"
        ) from exc


class Changes:
    """Records what the manager does in a :class:`HistoryLog`; one per manager.

    Events of one call get timestamps a microsecond apart, so their order is kept on
    every backend (logs order by timestamp).
    """

    def __init__(self, log: HistoryLog) -> None:
        self.log = log

    def _append(self, drafts: Iterable[dict[str, Any]]) -> None:
        now = utcnow()
        events = [
            HistoryEvent(timestamp=now + timedelta(microseconds=i), **draft)
            for i, draft in enumerate(drafts)
        ]
        self.log.append(events)

    def written(
        self,
        fresh: Sequence[MemoryItem],
        refreshed: Sequence[tuple[MemoryItem, MemoryItem]],
        actor: str | None,
    ) -> None:
        """New memories, and ``(before, after)`` pairs of refreshed ones."""
        self.written_calls([(fresh, refreshed, actor)])

    def written_calls(
        self,
        calls: Sequence[
            tuple[Sequence[MemoryItem], Sequence[tuple[MemoryItem, MemoryItem]], str | None]
        ],
    ) -> None:
        """What :meth:`written` records, for several writes committed together, in one
        append (a group commit)."""
        drafts = []
        for fresh, refreshed, actor in calls:
            drafts += [_draft(item, "created", actor, new=values(item)) for item in fresh]
            for before, after in refreshed:
                old, new = _diff(before, after)
                drafts.append(_draft(after, "refreshed", actor, old=old or None, new=new or None))
        self._append(drafts)

    def updated(self, before: MemoryItem, after: MemoryItem, actor: str | None) -> None:
        old, new = _diff(before, after)
        self._append([_draft(after, "updated", actor, old=old, new=new)])

    def removed(
        self,
        kind: HistoryKind,
        items: Sequence[MemoryItem],
        actor: str | None,
        related_id: str | None = None,
    ) -> None:
        """``forgotten``, ``purged`` or ``superseded`` (by ``related_id``) memories."""
        self._append(
            _draft(item, kind, actor, old=values(item), related_id=related_id) for item in items
        )

    def restored(self, items: Sequence[MemoryItem], actor: str | None) -> None:
        self._append(_draft(item, "restored", actor, new=values(item)) for item in items)

    def history(self, user_id: str, memory_id: str) -> list[HistoryEvent]:
        """The events of ``memory_id``, preceded by those of the memories it superseded."""
        ids, todo = [memory_id], [memory_id]
        while todo and len(ids) < MAX_CHAIN:
            for older in self.log.replaced_by(user_id, todo.pop()):
                if older not in ids:
                    ids.append(older)
                    todo.append(older)
        return self.log.events(user_id, ids)


def _draft(item: MemoryItem, kind: HistoryKind, actor: str | None, **fields: Any) -> dict[str, Any]:
    return {"memory_id": item.id, "user_id": item.user_id, "kind": kind, "actor": actor, **fields}


def _diff(before: MemoryItem, after: MemoryItem) -> tuple[dict[str, Any], dict[str, Any]]:
    old, new = values(before), values(after)
    keys = [key for key in TRACKED if old[key] != new[key]]
    return {key: old[key] for key in keys}, {key: new[key] for key in keys}
