"""Request bodies of the HTTP API: strict (unknown fields are errors), validated before any write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
        None,
        ge=0.0,
        le=1.0,
        description="Drop memories whose relevance (absolute, 0-1) is below this; default: "
        "MIN_RELEVANCE (0.3), 0 keeps all.",
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


class FieldProblem(BaseModel):
    """One field of a request that does not validate."""

    loc: list[str | int] = Field(description="Where: body, query or path, then the field.")
    msg: str
    type: str


class Problem(BaseModel):
    """Every error answer. ``detail`` says what is wrong and what to do, in one line; for a
    request that does not validate it lists the fields, and ``message`` joins them in one line."""

    detail: str | list[FieldProblem]
    message: str | None = None


_ERRORS = {
    400: "The body cannot be parsed (not UTF-8 JSON).",
    401: "Missing or invalid API key.",
    403: "The key may not touch this user, or the endpoint needs an admin key.",
    404: "No such memory or snapshot (for this user).",
    409: "The store was built with another embedder, or the snapshot cannot be restored here.",
    413: "The request body is larger than MAX_REQUEST_BYTES.",
    422: "The request does not validate (nothing was written).",
    429: "Rate limit exceeded: retry after the Retry-After header's seconds.",
    502: "The embedding provider or the chat model failed (nothing was written).",
    503: "Not configured (e.g. no AGENT_MODEL for /chat), starting, or the store stayed busy "
    "(commit conflicts past LANCEDB_WRITE_RETRIES): retry later.",
}
#: The error statuses the endpoints answer, each with the :class:`Problem` body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in _ERRORS.items()
}
