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


def parse_lines(lines: Iterable[str], user_id: str | None = None) -> list[MemoryItem]:
    """Every line validated before anything is written; errors name the line."""
    items = []
    for number, line in enumerate(lines, start=1):
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
            items.append(MemoryItem.model_validate(data))
        except ValidationError as exc:
            raise ValidationFailed(
                f"Line {number} is not a valid memory, nothing was imported: {validation_problems(exc)}"
            ) from exc
        except ValueError as exc:
            raise ValidationFailed(
                f"Line {number} is not valid JSON, nothing was imported: {exc}"
            ) from exc
    return items


def import_lines(
    target: Any,
    lines: Iterable[str],
    user_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Validate every line, then write them in batches through ``target``: a function
    taking a list of memories, or anything with a ``write_memories`` method (a manager, the
    HTTP client)."""
    write: Callable[[list[MemoryItem]], Any] = getattr(target, "write_memories", target)
    items = parse_lines(lines, user_id)
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        write(batch)
        if progress:
            progress(len(batch))
    return len(items)


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
