"""The endpoints. Every memory operation is scoped by user id and checked against the caller's key."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import AfterValidator

from llm_memory import validation
from llm_memory.api.auth import Principal
from llm_memory.api.deps import (
    ServerState,
    actor,
    principal,
    require_admin,
    require_user,
    state,
)
from llm_memory.api.schemas import (
    ERROR_RESPONSES,
    Deleted,
    Health,
    MemoryCreate,
    MemoryPatch,
    SearchRequest,
    SnapshotCreate,
    SnapshotRestore,
)
from llm_memory.chat import ChatRequest, ChatResponse
from llm_memory.errors import LLMMemoryError, NotFound
from llm_memory.models import HistoryEvent, MemoryItem, MemoryType, ScoredMemory, SessionId, UserId
from llm_memory.snapshot import SnapshotRef, check_snapshot_id

router = APIRouter(responses=ERROR_RESPONSES)


def _memory_id(value: str) -> str:
    if not validation.is_memory_id(value):
        raise ValueError("use 1-128 of letters, digits, '.', '_', ':', '-'")
    return value


def _snapshot_id(value: str) -> str:
    try:
        return check_snapshot_id(value)
    except LLMMemoryError as exc:
        raise ValueError(str(exc)) from None


Caller = Annotated[Principal, Depends(principal)]
Server = Annotated[ServerState, Depends(state)]
UserPath = Annotated[UserId, Path(description="The user the memories belong to.")]
MemoryIdPath = Annotated[
    str,
    AfterValidator(_memory_id),
    Path(
        description="A memory id: 1-128 of letters, digits, '.', '_', ':', '-'.",
        json_schema_extra={"pattern": validation.MEMORY_ID_PATTERN},
    ),
]
SnapshotIdPath = Annotated[
    str,
    AfterValidator(_snapshot_id),
    Path(description="A snapshot id (`GET /snapshots`), or `latest`."),
]


@router.get("/healthz", response_model=Health, tags=["service"])
def healthz() -> Health:
    """Liveness: answers without authentication."""
    return Health()


@router.get("/stats", tags=["service"])
def stats(server: Server, who: Caller) -> dict[str, Any]:
    """Memory counts, embedding usage and latency percentiles (admin keys)."""
    require_admin(who)
    data = server.manager.stats()
    usage = data.get("embedding_usage") or {}
    data["embedding_tokens"] = usage.get("tokens", 0)
    data["latency"] = server.latencies.summary()
    return data


@router.post("/chat", response_model=ChatResponse, tags=["chat"])
async def chat(body: ChatRequest, server: Server, who: Caller) -> ChatResponse:
    """Answer one message with memory: retrieve, run the agent, then persist what it proposed."""
    require_user(who, body.user_id)
    from anyio import to_thread

    service = await to_thread.run_sync(server.chat)
    return await service.achat(body.user_input, body.user_id, body.session_id)


# -- memories -----------------------------------------------------------------------------------
@router.post("/memories", response_model=MemoryItem, status_code=201, tags=["memories"])
def create_memory(body: MemoryCreate, server: Server, who: Caller) -> MemoryItem:
    """Store one memory (identical content for the same user refreshes the stored one)."""
    require_user(who, body.user_id)
    return server.manager.write_memory(
        body.content,
        body.user_id,
        type=body.type,
        importance=body.importance,
        session_id=body.session_id,
        metadata=body.metadata,
        created_at=body.created_at,
        actor=actor(who),
    )


@router.post("/memories/search", response_model=list[ScoredMemory], tags=["memories"])
def search_memories(body: SearchRequest, server: Server, who: Caller) -> list[ScoredMemory]:
    """The user's memories most worth bringing back for a query, with their scores."""
    require_user(who, body.user_id)
    started = time.perf_counter()
    found = server.manager.retrieve(
        body.query,
        body.user_id,
        limit=body.limit,
        types=body.types,
        min_relevance=body.min_relevance,
    )
    server.latencies.observe("retrieve", time.perf_counter() - started)
    return found


@router.get("/users/{user_id}/memories", response_model=list[MemoryItem], tags=["memories"])
def list_memories(
    user_id: UserPath,
    server: Server,
    who: Caller,
    type: Annotated[list[MemoryType] | None, Query(description="Repeat to allow several.")] = None,
    session_id: SessionId | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MemoryItem]:
    """The user's memories, oldest first, paginated."""
    require_user(who, user_id)
    return server.manager.list(
        user_id,
        types=type,
        since=since,
        until=until,
        session_id=session_id,
        limit=limit,
        offset=offset,
    )


@router.get("/users/{user_id}/memories/{memory_id}", response_model=MemoryItem, tags=["memories"])
def get_memory(
    user_id: UserPath, memory_id: MemoryIdPath, server: Server, who: Caller
) -> MemoryItem:
    require_user(who, user_id)
    return server.manager.get(memory_id, user_id)


@router.patch("/users/{user_id}/memories/{memory_id}", response_model=MemoryItem, tags=["memories"])
def update_memory(
    user_id: UserPath, memory_id: MemoryIdPath, body: MemoryPatch, server: Server, who: Caller
) -> MemoryItem:
    """Change a memory's content, type or importance (new content is embedded again)."""
    require_user(who, user_id)
    return server.manager.update_memory(
        memory_id,
        user_id,
        content=body.content,
        type=body.type,
        importance=body.importance,
        actor=actor(who),
    )


@router.get(
    "/users/{user_id}/memories/{memory_id}/history",
    response_model=list[HistoryEvent],
    tags=["memories"],
)
def memory_history(
    user_id: UserPath, memory_id: MemoryIdPath, server: Server, who: Caller
) -> list[HistoryEvent]:
    """Every recorded change to the memory, oldest first (also after it was forgotten)."""
    require_user(who, user_id)
    return server.manager.history(memory_id, user_id)


@router.delete("/users/{user_id}/memories/{memory_id}", status_code=204, tags=["memories"])
def delete_memory(
    user_id: UserPath, memory_id: MemoryIdPath, server: Server, who: Caller
) -> Response:
    require_user(who, user_id)
    if not server.manager.forget(memory_id, user_id, actor=actor(who)):
        raise HTTPException(404, f"No memory {memory_id!r} for user {user_id!r}.")
    return Response(status_code=204)


@router.delete("/users/{user_id}/memories", response_model=Deleted, tags=["memories"])
def delete_user_memories(user_id: UserPath, server: Server, who: Caller) -> Deleted:
    """Delete every memory of the user."""
    require_user(who, user_id)
    return Deleted(deleted=server.manager.forget_user(user_id))


# -- snapshots ----------------------------------------------------------------------------------
@router.post("/snapshots", response_model=SnapshotRef, status_code=201, tags=["snapshots"])
def create_snapshot(server: Server, who: Caller, body: SnapshotCreate | None = None) -> SnapshotRef:
    """Snapshot every user (admin keys) or one user (``{"user_id": …}``)."""
    user_id = body.user_id if body else None
    require_admin(who) if user_id is None else require_user(who, user_id)
    return server.snapshots().create(user_id)


@router.get("/snapshots", response_model=list[SnapshotRef], tags=["snapshots"])
def list_snapshots(server: Server, who: Caller) -> list[SnapshotRef]:
    """Snapshots, newest first; a user-bound key sees those of its own users only."""
    refs = server.snapshots().list()
    if who.admin:
        return refs
    return [r for r in refs if (r.manifest.get("scope") or {}).get("user_id") in who.users]


@router.post("/snapshots/{snapshot_id}/restore", tags=["snapshots"])
def restore_snapshot(
    snapshot_id: SnapshotIdPath, server: Server, who: Caller, body: SnapshotRestore | None = None
) -> dict[str, Any]:
    """Replace the store's contents (admin keys), or one user's (``{"user_id": …}``), with a snapshot's."""
    user_id = body.user_id if body else None
    require_admin(who) if user_id is None else require_user(who, user_id)
    if not who.admin:
        # A user-bound key restores its user's part of a full snapshot, or its own export;
        # another user's export is "not found", without saying whose it is.
        only = (server.snapshots().get(snapshot_id, user_id).manifest.get("scope") or {}).get(
            "user_id"
        )
        if only is not None and only not in who.users:
            raise NotFound(
                f"No snapshot {snapshot_id!r}. Run `llm-memory snapshot list` to see them."
            )
    return server.snapshots().restore(snapshot_id, user_id=user_id).as_dict()
