"""The MCP tools: the names other memory servers use, typed results, one user per connection.

The user is never a tool argument: ``scope_of(ctx)`` gives it (``--user`` on stdio, the API
key's user on HTTP), so a model cannot ask for another user's memories. Writes pass the
agent's own checks (:class:`~llm_memory.models.MemoryUpdate` and the secret policy).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from anyio import to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from llm_memory.agent.policy import secret_reason
from llm_memory.errors import LLMMemoryError
from llm_memory.models import (
    AgentMemoryType,
    Content,
    HistoryEvent,
    MemoryItem,
    MemoryType,
    MemoryUpdate,
    Scalar,
    ScoredMemory,
)
from llm_memory.plugins import core_version
from llm_memory.service import MemoryService
from llm_memory.settings import validation_problems

INSTRUCTIONS = (
    "Long-term memory about the user. search_memories before answering from memory; "
    "add_memory for facts and preferences worth keeping (one sentence each, never secrets); "
    "update_memory to correct one."
)


@dataclass(frozen=True)
class Scope:
    """Whose memories a connection reaches, and who is acting (for the change history)."""

    user_id: str
    actor: str


ScopeOf = Callable[[Context], Scope]


class SearchResults(BaseModel):
    """Memories for a query, best first; each with its score and the score's components."""

    memories: list[ScoredMemory]


class Deleted(BaseModel):
    """How many memories were deleted."""

    deleted: int


class History(BaseModel):
    """Every recorded change of one memory, oldest first."""

    events: list[HistoryEvent]


Importance = Annotated[float, Field(ge=0.0, le=1.0, description="0 trivia .. 1 essential.")]
MemoryId = Annotated[str, Field(min_length=1, max_length=256)]


def build_server(memory: MemoryService, scope_of: ScopeOf) -> MCPServer:
    """An MCP server whose tools act on ``memory`` for the user ``scope_of`` names."""
    server = MCPServer(
        "llm-memory", instructions=INSTRUCTIONS, version=core_version(), log_level="WARNING"
    )
    tools = _Tools(memory, scope_of)
    read, write = ToolAnnotations(read_only_hint=True), ToolAnnotations(read_only_hint=False)
    gone = ToolAnnotations(read_only_hint=False, destructive_hint=True)
    for fn, description, hints in (
        (tools.add_memory, "Remember one fact or preference about the user.", write),
        (tools.search_memories, "Find the user's memories relevant to a query.", read),
        (tools.get_memory, "Get one memory by id.", read),
        (tools.update_memory, "Correct a memory: new content, type or importance.", write),
        (tools.memory_history, "Every recorded change of a memory, oldest first.", read),
        (tools.delete_memory, "Delete one memory by id.", gone),
        (tools.delete_all_memories, "Delete every memory of the user (confirm=true).", gone),
    ):
        server.add_tool(fn, name=fn.__name__, description=description, annotations=hints)
    return server


class _Tools:
    def __init__(self, memory: MemoryService, scope_of: ScopeOf) -> None:
        self.memory = memory
        self.scope_of = scope_of

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await to_thread.run_sync(partial(fn, *args, **kwargs))
        except LLMMemoryError as exc:
            raise ToolError(str(exc).splitlines()[0]) from exc

    def _by(self, scope: Scope, fn: Callable[..., Any]) -> dict[str, Any]:
        return {"actor": scope.actor} if _accepts(fn, "actor") else {}

    async def add_memory(
        self,
        content: Annotated[str, Field(description="One self-contained sentence.")],
        ctx: Context,
        type: AgentMemoryType = "semantic",
        importance: Importance = 0.5,
        metadata: dict[str, Scalar] | None = None,
        timestamp: Annotated[datetime | None, Field(description="When it happened.")] = None,
    ) -> MemoryItem:
        scope = self.scope_of(ctx)
        update = _vetted(content, type, importance)
        return await self._call(
            self.memory.write_memory,
            update.content,
            scope.user_id,
            type=update.type,
            importance=update.importance,
            metadata={"source": "mcp", **(metadata or {})},
            created_at=timestamp,
            **self._by(scope, self.memory.write_memory),
        )

    async def search_memories(
        self,
        query: Content,
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        types: list[MemoryType] | None = None,
        min_relevance: Annotated[float | None, Field(ge=0.0, le=1.0)] = None,
    ) -> SearchResults:
        scope = self.scope_of(ctx)
        found = await self._call(
            self.memory.retrieve,
            query,
            scope.user_id,
            limit=limit,
            types=types,
            min_relevance=min_relevance,
        )
        return SearchResults(memories=found)

    async def get_memory(self, memory_id: MemoryId, ctx: Context) -> MemoryItem:
        return await self._call(self.memory.get, memory_id, self.scope_of(ctx).user_id)

    async def update_memory(
        self,
        memory_id: MemoryId,
        ctx: Context,
        content: Annotated[str | None, Field(description="The corrected sentence.")] = None,
        type: AgentMemoryType | None = None,
        importance: Importance | None = None,
    ) -> MemoryItem:
        scope = self.scope_of(ctx)
        if content is not None:
            content = _vetted(content, type or "semantic", importance or 0.5).content
        update = self.memory.update_memory
        return await self._call(
            update,
            memory_id,
            scope.user_id,
            content=content,
            type=type,
            importance=importance,
            **self._by(scope, update),
        )

    async def memory_history(self, memory_id: MemoryId, ctx: Context) -> History:
        events = await self._call(self.memory.history, memory_id, self.scope_of(ctx).user_id)
        return History(events=events)

    async def delete_memory(self, memory_id: MemoryId, ctx: Context) -> Deleted:
        scope = self.scope_of(ctx)
        forget = self.memory.forget
        if not await self._call(forget, memory_id, scope.user_id, **self._by(scope, forget)):
            raise ToolError(f"No memory {memory_id!r} for this user; nothing was deleted.")
        return Deleted(deleted=1)

    async def delete_all_memories(self, confirm: bool, ctx: Context) -> Deleted:
        if confirm is not True:
            raise ToolError(
                "Nothing deleted: pass confirm=true to delete every memory of the user."
            )
        return Deleted(
            deleted=await self._call(self.memory.forget_user, self.scope_of(ctx).user_id)
        )


def _vetted(content: str, type: str, importance: float) -> MemoryUpdate:
    """The agent's checks: a valid proposal, and no secret in it."""
    try:
        update = MemoryUpdate(content=content, type=type, importance=importance)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ToolError(f"Not saved: {validation_problems(exc)}") from exc
    reason = secret_reason(update.content)
    if reason:
        raise ToolError(f"Not saved: {reason}. Never store secrets.")
    return update


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes ``name`` (``actor``, ``min_relevance``: newer engine arguments)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
