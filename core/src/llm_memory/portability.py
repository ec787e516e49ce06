"""Export, import and reindex: moving memories between stores and embedders.

These work on the indexed store (which keeps the keyword side in step) and the embedder;
they know nothing of the manager or of keyword indexes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llm_memory.embedding import Embedder, embed_checked
from llm_memory.errors import LLMMemoryError, ValidationFailed
from llm_memory.models import MemoryItem
from llm_memory.settings import validation_problems
from llm_memory.storage.indexed import IndexedStore

BATCH = 256


def export_lines(memories: IndexedStore, user_id: str | None = None) -> Iterator[str]:
    users = [user_id] if user_id is not None else memories.users()
    for user in users:
        if not isinstance(user, str) or not user.strip():
            raise ValidationFailed("user_id is required: every memory belongs to one user.")
        for item in memories.iter_memories(user.strip()):
            yield item.model_dump_json() + "\n"


Key = tuple[str, str]


class ImportResult(int):
    """How many memories an import wrote: an ``int`` (the total), split into ``new`` and
    ``refreshed`` (already stored: importance, time and metadata refreshed, nothing
    duplicated). Both are ``None`` when the target cannot tell (through a server)."""

    new: int | None
    refreshed: int | None

    def __new__(cls, total: int, new: int | None = None) -> ImportResult:
        result = super().__new__(cls, total)
        result.new = new
        result.refreshed = None if new is None else total - new
        return result


class ImportInterrupted(KeyboardInterrupt):
    """Ctrl-C during an import: ``written`` of ``total`` memories are stored, and kept."""

    def __init__(self, written: int, total: int, unsure: bool = False) -> None:
        self.written, self.total = written, total
        maybe = "; the batch being sent when it came may have been written too" if unsure else ""
        super().__init__(
            f"Interrupted: {written} of {total} memories were written and are kept{maybe}. "
            "Re-running the import is safe: what is already stored is refreshed, not duplicated."
        )


def parse_lines(
    lines: Iterable[str | bytes],
    user_id: str | None = None,
    check: Callable[[MemoryItem], None] | None = None,
) -> list[MemoryItem]:
    """Every line validated before anything is written; errors name the line.

    Lines may be bytes (a file read in binary): they must be UTF-8 (a byte-order mark at
    the start is allowed). ``check`` adds the target's own checks of each memory (the id's
    shape, the metadata limits, no future time), so that a line the write would refuse
    is refused here, before any batch is written.
    """
    items = []
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ValidationFailed(
                    f"Line {number} is not UTF-8 (byte {exc.start + 1} of the line), nothing "
                    "was imported: save the file as UTF-8."
                ) from None
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if user_id is not None:
                data = (
                    {**data, "user_id": user_id, "id": ""}
                    if data.get("user_id") != user_id
                    else data
                )
            item = MemoryItem.model_validate(data)
            if check is not None:
                check(item)
            items.append(item)
        except ValidationError as exc:
            raise ValidationFailed(
                f"Line {number} is not a valid memory, nothing was imported: {validation_problems(exc)}"
            ) from exc
        except ValidationFailed as exc:
            raise ValidationFailed(
                f"Line {number} is not a valid memory, nothing was imported: {exc}"
            ) from exc
        except ValueError as exc:
            raise ValidationFailed(
                f"Line {number} is not valid JSON, nothing was imported: {exc}"
            ) from exc
    return items


def import_lines(
    target: Any,
    lines: Iterable[str | bytes],
    user_id: str | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    check: Callable[[MemoryItem], None] | None = None,
    stored: Callable[[list[Key]], set[Key]] | None = None,
) -> ImportResult:
    """Validate every line, then write them in batches through ``target``: a function
    taking a list of memories, or anything with a ``write_memories`` method (a manager, the
    HTTP client).

    ``check`` is the target's per-memory check (see :func:`parse_lines`); ``stored(keys)``
    says which ``(user_id, id)`` keys are already stored, so the result tells new from
    refreshed. Ctrl-C between or during batches raises :class:`ImportInterrupted` with
    how many were written (each batch is written whole or not at all).
    """
    write: Callable[[list[MemoryItem]], Any] = getattr(target, "write_memories", target)
    items = parse_lines(lines, user_id, check)
    seen: set[Key] = set()
    new = done = 0
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        keys = [(m.user_id, m.id) for m in batch]
        try:
            before = stored(keys) if stored is not None else set()
            write(batch)
        except KeyboardInterrupt:
            raise _interrupted(done, len(items), keys, stored) from None
        for key in keys:
            if key not in seen and key not in before:
                new += 1
            seen.add(key)
        done += len(batch)
        if progress:
            progress(len(batch))
    return ImportResult(done, new if stored is not None else None)


def _interrupted(
    done: int, total: int, keys: list[Key], stored: Callable[[list[Key]], set[Key]] | None
) -> ImportInterrupted:
    """How many are written when Ctrl-C came during a batch: ask the store, if it can say."""
    if stored is None:
        return ImportInterrupted(done, total, unsure=True)
    try:
        whole = stored(keys) >= set(keys)
    except BaseException:  # a second Ctrl-C, or a store that cannot answer now
        return ImportInterrupted(done, total, unsure=True)
    return ImportInterrupted(done + len(keys) if whole else done, total)


def reindex(
    memories: IndexedStore, embedder: Embedder, progress: Callable[[int], None] | None = None
) -> int:
    """Re-embed everything with the configured embedder.

    Every memory is first written to a JSONL file beside the working directory's temp
    area; the store is then cleared and refilled. If anything fails after the clear, the
    error names that file, which ``llm-memory import`` restores.
    """
    fd, name = tempfile.mkstemp(prefix="llm-memory-reindex-", suffix=".jsonl")
    backup = Path(name)
    count = 0
    with os.fdopen(fd, "w") as out:
        for line in export_lines(memories):
            out.write(line)
            count += 1
    items = parse_lines(backup.read_text().splitlines())
    try:
        with memories.writing():
            memories.restamp(embedder.info())
            for start in range(0, len(items), BATCH):
                batch = items[start : start + BATCH]
                memories.upsert(batch, embed_checked(embedder, [m.content for m in batch]))
                if progress:
                    progress(len(batch))
    except Exception as exc:
        raise LLMMemoryError(
            f"Reindex failed: {exc}. Every memory was saved to {backup} first; restore it with "
            f"`llm-memory import {backup}`."
        ) from exc
    backup.unlink()
    return count
