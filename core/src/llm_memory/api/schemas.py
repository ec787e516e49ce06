"""Request bodies of the HTTP API: strict (unknown fields are errors), validated before any write."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from llm_memory.models import Content, MemoryType, Scalar, SessionId, UserId


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryCreate(_Body):
    """A memory to store for one user (identical content refreshes the stored one)."""

    user_id: UserId
    content: Content
    type: MemoryType = "semantic"
    importance: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    session_id: SessionId | None = None
    metadata: dict[str, Scalar] = Field(default_factory=dict)
    created_at: datetime | None = None


class MemoryPatch(_Body):
    """The fields of a memory to change; the others keep their values."""

    content: Content | None = None
    type: MemoryType | None = None
    importance: float | None = Field(None, ge=0.0, le=1.0)


class SearchRequest(_Body):
    """Retrieve one user's memories for a query, best first."""

    user_id: UserId
    query: Content
    limit: int | None = Field(None, ge=1, le=1000, description="Default: MAX_ACTIVE_MEMORIES.")
    types: list[MemoryType] | None = Field(
        None, min_length=1, description="Omit for every type; an empty list is refused."
    )
    min_relevance: float | None = Field(
        None, ge=0.0, le=1.0, description="Drop memories whose relevance is below this."
    )


class SnapshotCreate(_Body):
    """Snapshot every user (admin keys), or one user."""

    user_id: UserId | None = None


class SnapshotRestore(_Body):
    """Restore a whole snapshot (admin keys), or only one user's memories from it."""

    user_id: UserId | None = None


class Deleted(BaseModel):
    deleted: int


class Health(BaseModel):
    status: str = "ok"
