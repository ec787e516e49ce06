"""``/mcp`` in ``llm-memory serve``: the MCP tools over streamable HTTP, behind the API keys.

Every request is authenticated and rate limited exactly like the other routes. The user is
the key's own (a key bound to one user), or the one named in ``X-LLM-Memory-User`` (admin
keys, and keys bound to several users), which the key must be allowed. The user is fixed
per request by the key, never by a tool argument, so a session id presented with another
key reaches that key's user only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from anyio import to_thread
from fastapi import HTTPException, Request

from llm_memory.api.deps import actor as api_actor
from llm_memory.api.deps import principal, require_user

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus
    from fastapi import FastAPI
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from llm_memory.api.auth import Principal
    from llm_memory.api.deps import ServerState
    from llm_memory.mcp.tools import Scope

USER_HEADER = "X-LLM-Memory-User"
PATH = "/mcp"
_SCOPE = "llm_memory_mcp_scope"


class McpGate:
    """The ASGI endpoint: authenticate, fix the user, then let the SDK answer.

    The MCP server (and with it the ``mcp`` SDK, most of a second to import) is built on
    the first request to ``/mcp``, so an app that never serves MCP never loads it. Its
    session manager then runs in the app's lifespan, until the app stops.
    """

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.mcp: MCPServer | None = None
        # Without keys the server answers loopback clients only: keep the SDK's DNS
        # rebinding check there (a web page must not reach it through a hostile name).
        # With keys every request carries one, which a rebinding page does not have.
        self.loopback_only = not server.keys
        self.sessions: StreamableHTTPSessionManager | None = None
        self._tasks: TaskGroup | None = None
        self._stop: anyio.Event | None = None
        self._starting: anyio.Lock | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Hold the app's lifespan: the session manager, once started, runs in it (a fresh
        one each time the app starts) and stops with it."""
        self._stop, self._starting = anyio.Event(), anyio.Lock()
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                self._stop.set()

    async def _sessions(self) -> StreamableHTTPSessionManager:
        """The running session manager, started on first use."""
        if self.sessions is not None:
            return self.sessions
        if self._tasks is None or self._starting is None:
            raise HTTPException(503, "The MCP endpoint is starting or stopping; try again.")
        async with self._starting:
            if self.sessions is None:
                if self.mcp is None:
                    self.mcp = await to_thread.run_sync(self._build)
                await self._tasks.start(self._run_sessions, self._stop)
        assert self.sessions is not None
        return self.sessions

    def _build(self) -> MCPServer:
        from llm_memory.mcp.tools import build_server

        return build_server(self.server.manager, scope_of)

    async def _run_sessions(
        self, stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        assert self.mcp is not None
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        if self.loopback_only:
            security = TransportSecuritySettings(
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        self.mcp.streamable_http_app(
            stateless_http=True, json_response=True, transport_security=security
        )
        sessions = self.mcp.session_manager
        async with sessions.run():
            self.sessions = sessions
            task_status.started()
            try:
                await stop.wait()
            finally:
                self.sessions = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        who = principal(request)
        user = _user(request, who)
        actor = f"mcp:{api_actor(who)}"
        sessions = await self._sessions()
        from llm_memory.mcp.tools import Scope

        scope.setdefault("state", {})[_SCOPE] = Scope(user_id=user, actor=actor)
        await sessions.handle_request(scope, receive, send)


def _user(request: Request, who: Principal) -> str:
    named = (request.headers.get(USER_HEADER) or "").strip()
    if named:
        require_user(who, named)
        return named
    if not who.admin and len(who.users) == 1:
        return next(iter(who.users))
    raise HTTPException(
        400,
        f"Name the user whose memories this MCP connection reaches: send the {USER_HEADER} "
        "header (this key is not bound to exactly one user).",
    )


def scope_of(ctx: Context) -> Scope:
    """The user the gate fixed for the request this tool call came in."""
    request = ctx.request_context.request
    found = getattr(getattr(request, "state", None), _SCOPE, None)
    if found is None:  # only the gate calls the SDK, so this is a wiring bug
        raise RuntimeError("MCP request without an authenticated user")
    return found


def mount(app: FastAPI, server: ServerState) -> McpGate:
    """Serve the MCP tools at ``/mcp``; enter ``gate.running()`` in the app's lifespan."""
    gate = McpGate(server)
    app.router.add_route(PATH, gate, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    return gate
