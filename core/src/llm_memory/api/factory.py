"""The FastAPI application: error mapping, request ids and access logs, lifespan."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from llm_memory.api.auth import KeyRing
from llm_memory.api.deps import ServerState
from llm_memory.api.logs import new_request_id, request_id
from llm_memory.api.ratelimit import RateLimiter
from llm_memory.errors import (
    ConfigError,
    EmbedderMismatch,
    EmbeddingError,
    LLMMemoryError,
    NotFound,
    NotSupported,
    SnapshotError,
    StoreBusy,
    ValidationFailed,
)
from llm_memory.plugins import core_version

if TYPE_CHECKING:
    from llm_memory.manager import MemoryManager
    from llm_memory.settings import Settings

log = logging.getLogger("llm_memory.api")

#: The core's errors as HTTP statuses (most specific first).
STATUS: list[tuple[type[Exception], int]] = [
    (ValidationFailed, 422),
    (NotFound, 404),
    (EmbedderMismatch, 409),
    (ConfigError, 503),
    (EmbeddingError, 502),
    (StoreBusy, 503),
    (NotSupported, 501),
    (SnapshotError, 500),
]


def create_app(
    manager: MemoryManager | None = None,
    *,
    settings: Settings | None = None,
    agent: Any = None,
    schedule_snapshots: bool = True,
) -> FastAPI:
    """The HTTP API over ``manager`` (built from ``settings``, or the environment, if omitted).

    ``agent`` is what :class:`llm_memory.chat.ChatService` accepts (default: ``AGENT_MODEL``).
    With ``SNAPSHOT_INTERVAL`` set and ``schedule_snapshots``, snapshots are taken in the
    background while the app runs.
    """
    owns = manager is None
    if manager is None:
        from llm_memory.manager import MemoryManager

        manager = MemoryManager.from_settings(settings)
    settings = manager.settings
    server = ServerState(
        manager=manager,
        keys=KeyRing(settings.api_keys.get_secret_value()),
        limiter=RateLimiter(settings.api_rate_limit, settings.api_rate_burst),
        agent=agent,
        owns_manager=owns,
    )
    app = FastAPI(
        title="llm-memory",
        summary="Long-term memory for LLM agents.",
        version=core_version(),
        lifespan=_lifespan(server, schedule_snapshots),
        docs_url=None,  # served offline by serve_docs_offline, not from a CDN
        redoc_url=None,
    )
    from llm_memory.api.docs import serve_docs_offline

    serve_docs_offline(app)
    app.state.llm_memory = server
    _install_handlers(app)
    app.middleware("http")(_request_context)
    from llm_memory.api.batch import router as batch_router
    from llm_memory.api.limits import BodyLimit

    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    from llm_memory.api.routes import router
    from llm_memory.mcp.http import mount

    app.include_router(router)
    app.include_router(batch_router)
    app.state.mcp = mount(app, server)
    return app


def _lifespan(
    server: ServerState, schedule: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Import the agent stack in the background: /healthz answers at once, /chat is warm soon.
        threading.Thread(
            target=_warm, args=(server,), name="llm-memory-warmup", daemon=True
        ).start()
        handle = None
        if schedule and server.manager.settings.snapshot_interval:
            from llm_memory.snapshot.schedule import start_schedule

            handle = start_schedule(server.manager)
            log.info("snapshots every %g hours", server.manager.settings.snapshot_interval)
        try:
            async with app.state.mcp.running():
                yield
        finally:
            if handle is not None:
                handle.stop(timeout=10)
            if server.owns_manager:
                server.manager.close()
            else:
                server.manager.flush()

    return lifespan


def _warm(server: ServerState) -> None:
    with contextlib.suppress(Exception):  # a missing model is reported by /chat itself
        server.chat()
        _ = server.chat().agent


async def _request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    rid = new_request_id(request.headers.get("x-request-id"))
    token = request_id.set(rid)
    request.state.request_id = rid
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["X-Request-ID"] = rid
        return response
    finally:
        log.info(
            "%s %s %d",
            request.method,
            request.url.path,
            status,
            extra={
                "event": "request",
                "request_id": rid,
                "method": request.method,
                "path": request.url.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "principal": getattr(request.state, "principal", None),
                "client": request.client.host if request.client else None,
            },
        )
        request_id.reset(token)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: NaN, Infinity or a lone surrogate cannot be encoded
        # as JSON, and the handler would answer 500 instead of this 422.
        errors = [
            {
                "loc": [p if isinstance(p, int) else _safe(p) for p in e.get("loc", ())],
                "msg": _safe(e.get("msg")),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse(
            {"detail": errors, "message": f"Invalid request: {problems}"}, status_code=422
        )

    @app.exception_handler(LLMMemoryError)
    async def core_error(request: Request, exc: LLMMemoryError) -> JSONResponse:
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), None)
        if status is None:
            from llm_memory.chat import ChatFailed

            status = 502 if isinstance(exc, ChatFailed) else 500
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": _safe(exc)}, status_code=status)


def _safe(value: object) -> str:
    """Text that JSON can always carry: a lone surrogate becomes its escape."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")
