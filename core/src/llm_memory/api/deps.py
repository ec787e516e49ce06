"""Request dependencies: the server's state, and who the caller is (authentication + rate limit)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request

from llm_memory.api.auth import KeyRing, Principal, is_loopback, presented_key
from llm_memory.api.metrics import Latencies
from llm_memory.api.ratelimit import RateLimiter, retry_after

if TYPE_CHECKING:
    from llm_memory.chat import ChatService
    from llm_memory.manager import MemoryManager

LOCAL = Principal("loopback", admin=True)


@dataclass
class ServerState:
    """Everything the endpoints share; one per app."""

    manager: MemoryManager
    keys: KeyRing
    limiter: RateLimiter
    agent: Any = None
    latencies: Latencies = field(default_factory=Latencies)
    owns_manager: bool = False
    _chat: ChatService | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def chat(self) -> ChatService:
        """The chat service, built on first use (PydanticAI is slow to import)."""
        with self._lock:
            if self._chat is None:
                from llm_memory.chat import ChatService

                self._chat = ChatService(self.manager, self.agent, observe=self.latencies.observe)
            return self._chat

    def snapshots(self) -> Any:
        return self.manager.snapshots


def state(request: Request) -> ServerState:
    return request.app.state.llm_memory


def principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or ``X-API-Key``; rate limited per key.

    Without configured keys every loopback client is an admin, unlimited; others are refused."""
    server = state(request)
    client = request.client.host if request.client else None
    if not server.keys:
        if not is_loopback(client):
            raise HTTPException(
                403,
                "No API keys are configured, so this server only answers loopback clients: set API_KEYS.",
            )
        request.state.principal = LOCAL.label
        return LOCAL  # development mode: no keys, so nothing to limit per key
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    found = server.keys.find(key) if key else None
    if found is None:
        _limit(server, f"client:{client}")  # slows down key guessing
        message = (
            "Invalid API key." if key else "Missing API key: send 'Authorization: Bearer <key>'."
        )
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = found.label
    _limit(server, f"key:{found.key_id}")
    return found


def _limit(server: ServerState, bucket: str) -> None:
    wait = server.limiter.take(bucket)
    if wait:
        raise HTTPException(
            429,
            f"Rate limit exceeded ({server.limiter.rate:g} requests/s); retry after {retry_after(wait)} s.",
            headers={"Retry-After": retry_after(wait)},
        )


def require_user(who: Principal, user_id: str) -> None:
    if not who.may(user_id):
        raise HTTPException(403, f"This API key may not access the memories of user {user_id!r}.")


def actor(who: Principal) -> str:
    """How the history names the caller: the key's id (a short hash, never the key)."""
    return who.key_id if who is LOCAL else f"api-key:{who.key_id}"


def require_admin(who: Principal) -> None:
    if not who.admin:
        raise HTTPException(403, "This endpoint needs an admin API key.")
