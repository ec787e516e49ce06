"""The HTTP calls both clients make: each method is a :class:`Call` (request + how to read
the answer), so the sync and async clients share everything but the sending."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from llm_memory.errors import (
    ConfigError,
    EmbedderMismatch,
    EmbeddingError,
    LLMMemoryError,
    NotFound,
    NotSupported,
    ValidationFailed,
)
from llm_memory.models import HistoryEvent, MemoryItem, ScoredMemory
from llm_memory.retry import RetryPolicy, one_line, parse_retry_after

#: Statuses worth another attempt: the request was refused before it did anything.
RETRY_STATUSES = (429, 503)
DEFAULT_RETRIES = RetryPolicy(max_retries=3, backoff=0.5, max_wait=30.0, env_prefix="LLM_MEMORY_")


class AccessDenied(LLMMemoryError):
    """The server refused the API key (missing, invalid, or not allowed this user)."""


class RateLimited(LLMMemoryError):
    """The server kept answering 429 after every retry."""


class ServerUnavailable(LLMMemoryError):
    """The server could not be reached, or answered with an error it did not explain."""


#: Statuses as the core's errors: the inverse of ``llm_memory.api.factory.STATUS``.
ERRORS: dict[int, type[LLMMemoryError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    409: EmbedderMismatch,
    422: ValidationFailed,
    429: RateLimited,
    501: NotSupported,
    502: EmbeddingError,
    503: ConfigError,
}


@dataclass
class Call:
    """One request and what to make of its answer (``read`` gets the decoded JSON)."""

    method: str
    path: str
    read: Callable[[Any], Any] = lambda data: data
    json: Any = None
    params: list[tuple[str, str]] = field(default_factory=list)
    #: What a 404 answers instead of raising NotFound (forget: False); RAISE to raise.
    missing: Any = "raise"


def path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def error_for(status: int, body: Any, text: str, where: str) -> LLMMemoryError:
    """The core's exception for an error answer, with the server's own message."""
    message = _message(body) or one_line(text) or f"HTTP {status}"
    if status == 502 and where == "/chat":
        from llm_memory.chat import ChatFailed

        return ChatFailed(message)
    kind = ERRORS.get(status)
    if kind is None:
        kind = LLMMemoryError if status >= 500 else ValidationFailed
    return kind(message)


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return value
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    return parse_retry_after(headers)


# -- the calls, one per method -------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def memory_body(item: MemoryItem | Mapping[str, Any]) -> dict[str, Any]:
    """What ``POST /memories`` accepts of a memory (ids are derived by the server)."""
    data = item.model_dump(mode="json") if isinstance(item, MemoryItem) else dict(item)
    keep = ("user_id", "content", "type", "importance", "session_id", "metadata", "created_at")
    body = {k: data[k] for k in keep if data.get(k) is not None}
    if isinstance(body.get("created_at"), datetime):
        body["created_at"] = body["created_at"].isoformat()
    return body


def write_memory(content: str, user_id: str, **fields: Any) -> Call:
    body = memory_body({"content": content, "user_id": user_id, **fields})
    return Call("POST", "/memories", MemoryItem.model_validate, json=body)


def write_memories(items: Iterable[MemoryItem | Mapping[str, Any]]) -> Call:
    bodies = [memory_body(item) for item in items]
    return Call("POST", "/memories/batch", _items, json=bodies)


def retrieve(
    query: str,
    user_id: str,
    limit: int | None,
    types: Sequence[str] | None,
    min_relevance: float | None,
) -> Call:
    body: dict[str, Any] = {"query": query, "user_id": user_id}
    if limit is not None:
        body["limit"] = limit
    if types:
        body["types"] = [types] if isinstance(types, str) else list(types)
    if min_relevance is not None:
        body["min_relevance"] = min_relevance
    return Call("POST", "/memories/search", _scored, json=body)


def list_(
    user_id: str,
    types: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
    session_id: str | None,
    limit: int,
    offset: int,
) -> Call:
    params = [("limit", str(limit)), ("offset", str(offset))]
    params += [("type", t) for t in ([types] if isinstance(types, str) else types or [])]
    for name, value in (("since", _iso(since)), ("until", _iso(until)), ("session_id", session_id)):
        if value is not None:
            params.append((name, value))
    return Call("GET", path("users", user_id, "memories"), _items, params=params)


def get(memory_id: str, user_id: str) -> Call:
    return Call("GET", path("users", user_id, "memories", memory_id), MemoryItem.model_validate)


def update_memory(memory_id: str, user_id: str, changes: Mapping[str, Any]) -> Call:
    body = {k: v for k, v in changes.items() if v is not None}
    target = path("users", user_id, "memories", memory_id)
    return Call("PATCH", target, MemoryItem.model_validate, json=body)


def history(memory_id: str, user_id: str) -> Call:
    def read(data: Any) -> list[HistoryEvent]:
        return [HistoryEvent.model_validate(event) for event in data]

    return Call("GET", path("users", user_id, "memories", memory_id, "history"), read)


def forget(memory_id: str, user_id: str) -> Call:
    target = path("users", user_id, "memories", memory_id)
    return Call("DELETE", target, lambda data: True, missing=False)


def forget_user(user_id: str) -> Call:
    return Call("DELETE", path("users", user_id, "memories"), lambda data: int(data["deleted"]))


def stats() -> Call:
    return Call("GET", "/stats")


def chat(user_input: str, user_id: str, session_id: str | None) -> Call:
    def read(data: Any) -> Any:
        from llm_memory.chat import ChatResponse

        return ChatResponse.model_validate(data)

    body = {"user_input": user_input, "user_id": user_id}
    if session_id is not None:
        body["session_id"] = session_id
    return Call("POST", "/chat", read, json=body)


def snapshot_create(user_id: str | None) -> Call:
    return Call("POST", "/snapshots", _snapshot_ref, json={"user_id": user_id} if user_id else None)


def snapshot_list() -> Call:
    return Call("GET", "/snapshots", lambda data: [_snapshot_ref(r) for r in data])


def snapshot_restore(snapshot_id: str, user_id: str | None) -> Call:
    def read(data: Any) -> Any:
        from llm_memory.snapshot.engine import RestoreResult

        return RestoreResult(**data)

    body = {"user_id": user_id} if user_id else None
    return Call("POST", path("snapshots", snapshot_id, "restore"), read, json=body)


def _snapshot_ref(data: Any) -> Any:
    from llm_memory.snapshot import SnapshotRef

    return SnapshotRef.model_validate(data)


def _items(data: Any) -> list[MemoryItem]:
    return [MemoryItem.model_validate(item) for item in data]


def _scored(data: Any) -> list[ScoredMemory]:
    return [ScoredMemory.model_validate(item) for item in data]


def answer(call: Call, status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """What ``call`` returns for this response, or the core's exception for an error."""
    import json

    if status == 404 and call.missing != "raise":
        return call.missing
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = None
    if status >= 400:
        raise error_for(status, data, content.decode(errors="replace"), call.path)
    return call.read(data)


def should_retry(
    status: int, headers: Mapping[str, str], attempt: int, policy: RetryPolicy
) -> float | None:
    """Seconds to wait before another attempt, or None to give up and report the answer."""
    if status not in RETRY_STATUSES or attempt >= policy.max_retries:
        return None
    asked = retry_after(headers)
    if asked is not None and asked > policy.max_wait:
        return None
    return policy.delay(attempt, asked)


def unreachable(base_url: str, exc: Exception) -> ServerUnavailable:
    return ServerUnavailable(
        f"Cannot reach the llm-memory server at {base_url} ({type(exc).__name__}: {one_line(exc)}); "
        "is `llm-memory serve` running there?"
    )
