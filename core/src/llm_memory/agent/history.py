"""Conversation history of the chat flow, per user and session, kept bounded by summaries.

Each exchange is stored as two ``episodic`` memories of the user ("user: …", "assistant: …"),
tagged ``metadata={"chat": "turn", "role": …}`` and carrying the session id, so history is
searchable long-term memory like any other and survives restarts. When a session holds more
than ``summarize_after_turns`` turns, the oldest ones (all but the newest half) are folded,
together with the previous summary, into one ``episodic`` summary memory
(``metadata={"chat": "summary"}``) by ``manager.summarizer``; the folded turns and the old
summary are then deleted. A session therefore holds at most one summary and
``summarize_after_turns`` turns, and the agent's context stays bounded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from llm_memory.models import MemoryItem, utcnow

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

    from llm_memory.manager import MemoryManager

log = logging.getLogger("llm_memory.chat")

KIND = "chat"
TURN = "turn"
SUMMARY = "summary"
DEFAULT_SESSION = "default"
SUMMARY_CHARS = 1200
_PAGE = 500


@dataclass
class Window:
    """What the agent sees of one session: the rolling summary and the verbatim turns."""

    summary: MemoryItem | None = None
    turns: list[MemoryItem] = field(default_factory=list)

    def role(self, item: MemoryItem) -> str:
        return str(item.metadata.get("role", "user"))

    def text(self, item: MemoryItem) -> str:
        prefix = f"{self.role(item)}: "
        return item.content[len(prefix) :] if item.content.startswith(prefix) else item.content

    def messages(self) -> list[ModelMessage]:
        """The turns as PydanticAI messages, for ``message_history``."""
        from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

        out: list[ModelMessage] = []
        for item in self.turns:
            if self.role(item) == "assistant":
                out.append(
                    ModelResponse(parts=[TextPart(self.text(item))], timestamp=item.created_at)
                )
            else:
                out.append(
                    ModelRequest(parts=[UserPromptPart(self.text(item), timestamp=item.created_at)])
                )
        return out

    def as_state_history(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if self.summary is not None:
            rows.append(
                {"kind": "conversation_summary", "content": strip_summary_prefix(self.summary)}
            )
        rows += [
            {"kind": "turn", "role": self.role(t), "content": self.text(t)} for t in self.turns
        ]
        return rows

    def ids(self) -> set[str]:
        return {t.id for t in self.turns} | ({self.summary.id} if self.summary else set())


class ConversationLog:
    """Reads, records and compresses the chat history of one memory manager."""

    def __init__(self, manager: MemoryManager, keep_turns: int | None = None) -> None:
        self.manager = manager
        self.keep_turns = keep_turns or manager.settings.summarize_after_turns
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def window(self, user_id: str, session_id: str) -> Window:
        window = Window()
        offset = 0
        while True:
            page = self.manager.list(
                user_id, types=["episodic"], session_id=session_id, limit=_PAGE, offset=offset
            )
            for item in page:
                kind = item.metadata.get(KIND)
                if kind == TURN:
                    window.turns.append(item)
                elif kind == SUMMARY and (
                    window.summary is None or item.created_at >= window.summary.created_at
                ):
                    window.summary = item
            if len(page) < _PAGE:
                return window
            offset += _PAGE

    @staticmethod
    def turn_items(
        user_id: str, session_id: str, user_input: str, output: str, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The exchange as memories for ``manager.write_memories`` (the same shape
        ``ingest_conversation`` gives: "role: text", episodic, one microsecond apart)."""
        at = at or utcnow()
        rows = [("user", user_input), ("assistant", output)]
        return [
            {
                "user_id": user_id,
                "session_id": session_id,
                "type": "episodic",
                "importance": 0.3,
                "content": f"{role}: {text.strip()}",
                "created_at": at + timedelta(microseconds=i),
                "metadata": {KIND: TURN, "role": role},
            }
            for i, (role, text) in enumerate(rows)
            if text.strip()
        ]

    # -- summarization ---------------------------------------------------------------------
    def lock(self, user_id: str, session_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((user_id, session_id), threading.Lock())

    def due(self, user_id: str, session_id: str) -> Window | None:
        """The summary and the turns to fold, when the session has grown past the limit."""
        window = self.window(user_id, session_id)
        if len(window.turns) <= self.keep_turns:
            return None
        keep = max(1, self.keep_turns // 2)
        return Window(window.summary, window.turns[: len(window.turns) - keep])

    def summary_input(self, fold: Window) -> list[MemoryItem]:
        """The previous summary (as plain text) and the turns to fold, oldest first."""
        if fold.summary is None:
            return list(fold.turns)
        previous = fold.summary.model_copy(update={"content": strip_summary_prefix(fold.summary)})
        return [previous, *fold.turns]

    def apply(self, user_id: str, session_id: str, fold: Window, text: str) -> MemoryItem | None:
        """Write the new summary, then delete what it replaces (a crash in between leaves
        duplicates, never a gap)."""
        text = text.strip()
        if not text:
            return None
        count = len(fold.turns) + int(fold.summary.metadata.get("turns", 0) if fold.summary else 0)
        summary = self.manager.write_memory(
            f"Summary of conversation {session_id}: {text}",
            user_id,
            type="episodic",
            importance=0.6,
            session_id=session_id,
            metadata={KIND: SUMMARY, "turns": count},
        )
        for item in self.summary_input(fold):
            self.manager.forget(item.id, user_id)
        return summary

    def compress(self, user_id: str, session_id: str) -> MemoryItem | None:
        """Fold old turns into the summary now, if due (synchronous summarizers)."""
        lock = self.lock(user_id, session_id)
        if not lock.acquire(blocking=False):
            return None  # another request is compressing this session
        try:
            fold = self.due(user_id, session_id)
            if fold is None:
                return None
            text = self.manager.summarizer.summarize(
                self.summary_input(fold), max_chars=SUMMARY_CHARS
            )
            return self.apply(user_id, session_id, fold, text)
        finally:
            lock.release()

    async def acompress(self, user_id: str, session_id: str) -> MemoryItem | None:
        """:meth:`compress` for the event loop: storage in threads, an async summarizer awaited."""
        from anyio import to_thread

        lock = self.lock(user_id, session_id)
        if not lock.acquire(blocking=False):
            return None
        try:
            fold = await to_thread.run_sync(self.due, user_id, session_id)
            if fold is None:
                return None
            summarizer = self.manager.summarizer
            turns = self.summary_input(fold)
            if hasattr(summarizer, "asummarize"):
                text = await summarizer.asummarize(turns, max_chars=SUMMARY_CHARS)
            else:
                text = await to_thread.run_sync(
                    lambda: summarizer.summarize(turns, max_chars=SUMMARY_CHARS)
                )
            return await to_thread.run_sync(self.apply, user_id, session_id, fold, text)
        finally:
            lock.release()


def strip_summary_prefix(item: MemoryItem) -> str:
    head, sep, rest = item.content.partition(": ")
    return rest if sep and head.startswith("Summary of conversation") else item.content


def is_chat_history(
    item: MemoryItem, session_id: str | None, ids: Sequence[str] | set[str]
) -> bool:
    """Whether a retrieved memory is already in the agent's context as history."""
    return item.id in ids or (
        item.session_id == session_id and item.metadata.get(KIND) in (TURN, SUMMARY)
    )
