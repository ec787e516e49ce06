"""AsyncMemoryClient: MemoryClient's methods as coroutines, for event loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio
import httpx

from llm_memory.client import _calls
from llm_memory.client.sync import PAGE, _no_now, settings_from_env
from llm_memory.models import HistoryEvent, MemoryItem, ScoredMemory
from llm_memory.retry import RetryPolicy


class AsyncMemoryClient:
    """:class:`~llm_memory.client.MemoryClient` for ``async`` code: same methods, awaited.

    >>> async with AsyncMemoryClient("http://127.0.0.1:8000") as memory:
    ...     found = await memory.retrieve("tea", "ada")
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: RetryPolicy = _calls.DEFAULT_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, auth = settings_from_env(base_url, api_key)
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={**auth, **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    async def _run(self, call: _calls.Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.json, params=call.params or None
                )
            except httpx.TransportError as exc:
                raise _calls.unreachable(self.base_url, exc) from exc
            wait = _calls.should_retry(
                response.status_code, response.headers, attempt, self.retries
            )
            if wait is None:
                return _calls.answer(call, response.status_code, response.headers, response.content)
            await anyio.sleep(wait)
            attempt += 1

    async def write_memory(
        self,
        content: str,
        user_id: str,
        *,
        type: str = "semantic",
        importance: float = 0.5,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        actor: str | None = None,
    ) -> MemoryItem:
        fields = {"type": type, "importance": importance, "session_id": session_id}
        fields |= {"metadata": dict(metadata or {}), "created_at": created_at}
        return await self._run(_calls.write_memory(content, user_id, **fields))

    async def write_memories(
        self, items: Iterable[MemoryItem | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[MemoryItem]:
        return await self._run(_calls.write_memories(items))

    async def update_memory(
        self,
        memory_id: str,
        user_id: str,
        content: str | None = None,
        type: str | None = None,
        importance: float | None = None,
        *,
        actor: str | None = None,
    ) -> MemoryItem:
        changes = {"content": content, "type": type, "importance": importance}
        return await self._run(_calls.update_memory(memory_id, user_id, changes))

    async def retrieve(
        self,
        query: str,
        user_id: str,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        now: datetime | None = None,
        *,
        min_relevance: float | None = None,
    ) -> list[ScoredMemory]:
        _no_now(now)
        return await self._run(_calls.retrieve(query, user_id, limit, types, min_relevance))

    async def list(
        self,
        user_id: str,
        *,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        session_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MemoryItem]:
        call = _calls.list_(user_id, types, since, until, session_id, limit, offset)
        return await self._run(call)

    async def iter_memories(self, user_id: str, page: int = PAGE) -> AsyncIterator[MemoryItem]:
        offset = 0
        while True:
            batch = await self.list(user_id, limit=page, offset=offset)
            for item in batch:
                yield item
            if len(batch) < page:
                return
            offset += page

    async def get(self, memory_id: str, user_id: str) -> MemoryItem:
        return await self._run(_calls.get(memory_id, user_id))

    async def history(self, memory_id: str, user_id: str) -> list[HistoryEvent]:
        return await self._run(_calls.history(memory_id, user_id))

    async def users(self) -> list[str]:
        return sorted((await self.stats())["users"])

    async def stats(self) -> dict[str, Any]:
        return await self._run(_calls.stats())

    async def forget(self, memory_id: str, user_id: str, *, actor: str | None = None) -> bool:
        return await self._run(_calls.forget(memory_id, user_id))

    async def forget_user(self, user_id: str) -> int:
        return await self._run(_calls.forget_user(user_id))

    async def chat(self, user_input: str, user_id: str, session_id: str | None = None) -> Any:
        return await self._run(_calls.chat(user_input, user_id, session_id))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
