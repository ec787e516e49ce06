"""The Model Context Protocol server: memory tools for Claude Desktop, Cursor and any MCP client.

``llm-memory mcp --user U`` serves them over stdio; ``llm-memory serve`` at ``/mcp`` over
streamable HTTP, behind the API keys. The ``mcp`` SDK is imported only here, when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_memory.service import MemoryService

__all__ = ["run_stdio"]


def run_stdio(memory: MemoryService, user_id: str) -> None:
    """Serve the tools over stdin/stdout for one user until the client disconnects."""
    import anyio

    from llm_memory.mcp.tools import Scope, build_server

    scope = Scope(user_id=user_id, actor="mcp")
    server = build_server(memory, lambda ctx: scope)
    anyio.run(server.run_stdio_async)


def __getattr__(name: str) -> Any:
    if name in ("build_server", "Scope"):
        from llm_memory.mcp import tools

        return getattr(tools, name)
    raise AttributeError(f"module 'llm_memory.mcp' has no attribute {name!r}")
