"""``POST /memories/batch``: several memories in one all-or-nothing write (the client's
``write_memories``, and ``llm-memory import --url``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from llm_memory.api.deps import require_user
from llm_memory.api.routes import Caller, Server
from llm_memory.api.schemas import ERROR_RESPONSES, MemoryCreate
from llm_memory.models import MemoryItem

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/memories/batch", response_model=list[MemoryItem], status_code=201, tags=["memories"])
def create_memories(
    body: Annotated[list[MemoryCreate], Body(max_length=1000)], server: Server, who: Caller
) -> list[MemoryItem]:
    """Store up to 1,000 memories, embedded together: one invalid item writes none."""
    for user_id in {item.user_id for item in body}:
        require_user(who, user_id)
    return server.manager.write_memories([item.model_dump(exclude_none=True) for item in body])
