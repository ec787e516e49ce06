"""MemoryClient: the HTTP API with the methods, arguments and models of MemoryManager."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from llm_memory.client import _calls
from llm_memory.errors import NotSupported
from llm_memory.models import HistoryEvent, MemoryItem, ScoredMemory
from llm_memory.retry import RetryPolicy

PAGE = 1000


def settings_from_env(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The server's URL and the auth header, from the arguments or LLM_MEMORY_URL / _API_KEY."""
    from llm_memory.errors import ConfigError

    url = base_url or os.environ.get("LLM_MEMORY_URL")
    if not url:
        raise ConfigError(
            "No server URL: pass base_url or set LLM_MEMORY_URL (e.g. http://127.0.0.1:8000)."
        )
    key = api_key if api_key is not None else os.environ.get("LLM_MEMORY_API_KEY")
    bad = next(((i, c) for i, c in enumerate(key or "") if not "!" <= c <= "~"), None)
    if bad is not None:  # an HTTP header carries visible ASCII only
        where, char = bad
        raise ConfigError(
            f"The API key holds U+{ord(char):04X} ({char!r}) at position {where}, which an HTTP "
            "header cannot carry: give the key itself (not a placeholder such as 'k-alice-…')."
        )
    return url.rstrip("/"), ({"Authorization": f"Bearer {key}"} if key else {})


class MemoryClient:
    """A memory server, used like an embedded :class:`~llm_memory.manager.MemoryManager`.

    >>> memory = MemoryClient("http://127.0.0.1:8000", api_key="…")   # or LLM_MEMORY_URL
    >>> memory.write_memory("Ada likes green tea", "ada", type="preference")

    Errors are the core's classes (``NotFound``, ``ValidationFailed``…); 429 and 503
    answers are retried with backoff, waiting at least what ``Retry-After`` asks.
    ``transport`` (an ``httpx.BaseTransport``) is for tests and custom networking.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: RetryPolicy = _calls.DEFAULT_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, auth = settings_from_env(base_url, api_key)
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={**auth, **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    def _run(self, call: _calls.Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, json=call.json, params=call.params or None
                )
            except httpx.TransportError as exc:
                raise _calls.unreachable(self.base_url, exc) from exc
            wait = _calls.should_retry(
                response.status_code, response.headers, attempt, self.retries
            )
            if wait is None:
                return _calls.answer(call, response.status_code, response.headers, response.content)
            time.sleep(wait)
            attempt += 1

    # -- writes -------------------------------------------------------------------------------
    def write_memory(
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
        """Store one memory; ``actor`` is ignored (the server records the calling key)."""
        fields = {"type": type, "importance": importance, "session_id": session_id}
        fields |= {"metadata": dict(metadata or {}), "created_at": created_at}
        return self._run(_calls.write_memory(content, user_id, **fields))

    def write_memories(
        self, items: Iterable[MemoryItem | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[MemoryItem]:
        """Store a batch, all or nothing (validated by the server before any write)."""
        return self._run(_calls.write_memories(items))

    def update_memory(
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
        return self._run(_calls.update_memory(memory_id, user_id, changes))

    # -- reads --------------------------------------------------------------------------------
    def retrieve(
        self,
        query: str,
        user_id: str,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        now: datetime | None = None,
        *,
        min_relevance: float | None = None,
    ) -> list[ScoredMemory]:
        """The memories most worth bringing back for ``query``, best first, with scores."""
        _no_now(now)
        return self._run(_calls.retrieve(query, user_id, limit, types, min_relevance))

    def list(
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
        return self._run(_calls.list_(user_id, types, since, until, session_id, limit, offset))

    def iter_memories(self, user_id: str, page: int = PAGE) -> Iterator[MemoryItem]:
        """Every memory of one user, oldest first, a page at a time."""
        offset = 0
        while True:
            batch = self.list(user_id, limit=page, offset=offset)
            yield from batch
            if len(batch) < page:
                return
            offset += page

    def get(self, memory_id: str, user_id: str) -> MemoryItem:
        return self._run(_calls.get(memory_id, user_id))

    def history(self, memory_id: str, user_id: str) -> list[HistoryEvent]:
        """Every recorded change of the memory, oldest first (``HistoryEvent`` models)."""
        return self._run(_calls.history(memory_id, user_id))

    def users(self) -> list[str]:
        """Users with memories (needs an admin key)."""
        return sorted(self.stats()["users"])

    def stats(self) -> dict[str, Any]:
        """Counts by user and type, the backend, the embedder, latencies (admin keys)."""
        return self._run(_calls.stats())

    # -- deletes ------------------------------------------------------------------------------
    def forget(self, memory_id: str, user_id: str, *, actor: str | None = None) -> bool:
        """Delete one memory of this user; False if the user has no such memory."""
        return self._run(_calls.forget(memory_id, user_id))

    def forget_user(self, user_id: str) -> int:
        """Delete every memory of this user; returns how many there were."""
        return self._run(_calls.forget_user(user_id))

    # -- chat and portability -----------------------------------------------------------------
    def chat(self, user_input: str, user_id: str, session_id: str | None = None) -> Any:
        """One message through the server's agent (``POST /chat``): a ``ChatResponse``."""
        return self._run(_calls.chat(user_input, user_id, session_id))

    def export(self, user_id: str | None = None) -> Iterator[str]:
        from llm_memory.portability import export_lines

        return export_lines(self, user_id)  # type: ignore[arg-type]

    def import_(
        self,
        lines: Iterable[str | bytes],
        user_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Validate every line, then send them in batches. The checks that need no server
        settings (the id's shape, no future time) run on every line first; the server's
        metadata limits are checked per batch. The result cannot tell new from refreshed."""
        import sys

        from llm_memory import validation
        from llm_memory.models import utcnow
        from llm_memory.portability import import_lines

        now = utcnow()

        def check(item: Any) -> None:
            validation.check_item(item, now, sys.maxsize, sys.maxsize)

        return import_lines(self, lines, user_id, progress, check=check)  # type: ignore[arg-type]

    @property
    def snapshots(self) -> ServerSnapshots:
        """The server's snapshots (``create``, ``list``, ``get``, ``restore``), as
        ``MemoryManager.snapshots`` offers them; the API deletes none."""
        return ServerSnapshots(self)

    def flush(self) -> None:
        """Nothing to flush: the server writes access statistics itself."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _no_now(now: datetime | None) -> None:
    if now is not None:
        raise NotSupported(
            "retrieve(now=...) is not available through the HTTP API: the server scores "
            "recency from its own clock."
        )


class ServerSnapshots:
    """Snapshots through the HTTP API: what :class:`~llm_memory.snapshot.engine.Snapshots`
    does, on the server's store. Deleting and pruning are not in the API: they fail in one
    line saying where to run them."""

    def __init__(self, client: MemoryClient) -> None:
        self.client = client

    def create(self, user_id: str | None = None, *, progress: Any = None) -> Any:
        return self.client._run(_calls.snapshot_create(user_id))

    def list(self) -> list[Any]:
        return self.client._run(_calls.snapshot_list())

    def get(self, snapshot_id: str = "latest", user_id: str | None = None) -> Any:
        from llm_memory.errors import NotFound

        for ref in self.list():
            scope = (ref.manifest.get("scope") or {}).get("user_id")
            if ref.id == snapshot_id or (
                snapshot_id == "latest" and (scope is None or scope == user_id)
            ):
                return ref
        raise NotFound(f"No snapshot {snapshot_id!r} on {self.client.base_url}.")

    def restore(
        self,
        snapshot_id: str = "latest",
        *,
        user_id: str | None = None,
        path: Any = None,
        progress: Any = None,
    ) -> Any:
        if path is not None:
            raise NotSupported(
                "Restoring an archive file is not in the HTTP API: copy it to the server's "
                "host and run `llm-memory snapshot restore --file` there."
            )
        if snapshot_id == "latest":
            snapshot_id = self.get("latest", user_id).id
        return self.client._run(_calls.snapshot_restore(snapshot_id, user_id))

    def delete(self, snapshot_id: str) -> None:
        raise self._on_the_host("delete")

    def prune(self, keep: int) -> list[str]:
        raise self._on_the_host("prune")

    @staticmethod
    def _on_the_host(command: str) -> NotSupported:
        return NotSupported(
            f"`llm-memory snapshot {command}` is not in the HTTP API: run it on the server's "
            "host without --url / LLM_MEMORY_URL (it opens only the snapshot store, so the "
            "running server does not block it)."
        )
