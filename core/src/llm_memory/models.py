"""The data the memory engine passes around: memories, proposed updates, working memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from llm_memory import validation
from llm_memory.vocab import MEMORY_TYPES as MEMORY_TYPES

MemoryType = Literal["semantic", "preference", "fact", "episodic"]
#: The types an agent may propose; ``episodic`` memories are conversation turns, written by the engine.
AgentMemoryType = Literal["semantic", "preference", "fact"]
Scalar = str | int | float | bool


def _name(most: int) -> Any:
    def check(value: str) -> str:
        problem = validation.name_problem(value, most)
        if problem:
            raise ValueError(f"{problem} (see the README's 'What is validated')")
        return value

    return AfterValidator(check)


def _text(value: str) -> str:
    problem = validation.text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: 1-128 characters, no control or format characters, no surrounding whitespace; never
#: normalised (``alice`` and ``Alice`` are two users). See :mod:`llm_memory.validation`.
UserId = Annotated[str, _name(validation.USER_ID_MAX)]
SessionId = Annotated[str, _name(validation.SESSION_ID_MAX)]
Content = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32_000),
    AfterValidator(_text),
]

# Identity of a memory: the same user + the same words is the same memory (so writing it
# again updates instead of duplicating). A conversation turn is an event, so its time and
# session are part of its identity: "ok" said twice is two turns.
_ID_NAMESPACE = uuid.UUID("6f1c9a52-4f7e-4d55-9a0e-1f0c8f0b7c11")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC; aware ones are converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def memory_key(
    user_id: str, content: str, type: str, session_id: str | None, created_at: datetime
) -> str:
    parts = [user_id, content]
    if type == "episodic":
        parts += [session_id or "", as_utc(created_at).isoformat()]
    return uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)).hex


class MemoryItem(BaseModel):
    """One stored memory. ``id`` is unique per user (two users may hold the same id)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = ""
    user_id: UserId
    content: Content
    type: MemoryType = "semantic"
    importance: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    last_accessed_at: datetime | None = None
    access_count: int = Field(0, ge=0)
    session_id: SessionId | None = None
    metadata: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("created_at", "updated_at", "last_accessed_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        problem = validation.metadata_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _defaults(self) -> MemoryItem:
        if self.updated_at is None:
            self.updated_at = self.created_at
        if not self.id:
            self.id = memory_key(
                self.user_id, self.content, self.type, self.session_id, self.created_at
            )
        return self


class MemoryUpdate(BaseModel):
    """What an agent may propose: content, type and importance, validated, nothing else."""

    model_config = ConfigDict(extra="forbid")

    content: Content = Field(description="The memory, as one self-contained sentence.")
    type: AgentMemoryType = Field(
        "semantic",
        description="semantic (knowledge), preference (likes, wishes), or fact (about the user).",
    )
    importance: float = Field(0.5, ge=0.0, le=1.0, description="0 = trivia, 1 = essential.")


class ScoredMemory(BaseModel):
    """A retrieved memory with its final score and each component of it."""

    memory: MemoryItem
    score: float
    relevance: float = Field(description="Normalised over the candidate set: 1 = best candidate.")
    importance: float
    recency: float = Field(description="1 = just now, halving every half-life.")
    sources: dict[str, int] = Field(
        default_factory=dict,
        description="Rank of the memory in each candidate list (dense, keyword).",
    )


class Candidate(BaseModel):
    """A memory chosen for relevance, before scoring. ``relevance`` is in [0, 1]."""

    memory: MemoryItem
    relevance: float
    sources: dict[str, int] = Field(default_factory=dict)


class MemoryState(BaseModel):
    """The agent's working memory for one run: what was retrieved, and what it proposes."""

    user_id: UserId
    session_id: str | None = None
    query: str = ""
    active: list[ScoredMemory] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    proposed: list[MemoryUpdate] = Field(default_factory=list)
    forget: list[str] = Field(default_factory=list)

    def propose(self, update: MemoryUpdate) -> None:
        if all(update.content != p.content for p in self.proposed):
            self.proposed.append(update)

    def propose_forget(self, memory_id: str) -> bool:
        """Only an active memory can be forgotten; returns whether the id was one."""
        if memory_id not in {m.memory.id for m in self.active}:
            return False
        if memory_id not in self.forget:
            self.forget.append(memory_id)
        return True


class ConversationTurn(BaseModel):
    """One turn of a conversation, as ``ingest_conversation`` accepts it."""

    model_config = ConfigDict(extra="forbid")

    content: Content
    speaker: str | None = None
    role: str | None = None
    timestamp: datetime | None = None
    session_id: str | None = None
    importance: float = Field(0.5, ge=0.0, le=1.0)
    metadata: dict[str, Scalar] = Field(default_factory=dict)


class EmbedderInfo(BaseModel):
    """What a store records about the embedder that made its vectors."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    dimension: int = Field(gt=0)

    def __str__(self) -> str:
        return f"{self.name}/{self.model} ({self.dimension} dimensions)"


#: What happened to a memory. ``refreshed``: the same content was written again;
#: ``superseded``: the agent forgot it and stored a correction in the same run.
HistoryKind = Literal[
    "created", "refreshed", "updated", "forgotten", "purged", "restored", "superseded"
]


class HistoryEvent(BaseModel):
    """One recorded change to one memory; the history of a memory is append-only.

    ``old`` and ``new`` hold the fields involved (``content``, ``type``, ``importance``):
    the changed ones for ``updated`` and ``refreshed``, all of them when a memory appears
    (``created``, ``restored``: ``new``) or goes (``forgotten``, ``purged``, ``superseded``:
    ``old``). ``related_id`` links a supersession: on ``superseded`` the memory that
    replaced this one, on the replacement's ``created`` the memory it replaced.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    memory_id: str
    user_id: str
    kind: HistoryKind
    timestamp: datetime = Field(default_factory=utcnow)
    actor: str | None = Field(
        None, description='Who: "api-key:<id>", "cli", "agent:<run id>", "retention"…'
    )
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    related_id: str | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)
