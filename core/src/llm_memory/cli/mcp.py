"""``llm-memory mcp``: the memory tools over stdio, for desktop MCP clients."""

from __future__ import annotations

import click

from llm_memory.cli.common import get_manager


@click.command("mcp")
@click.option(
    "--user",
    "-u",
    "user_id",
    required=True,
    help="Whose memories this connection reaches (tools never choose the user).",
)
def mcp(user_id: str) -> None:
    """Serve the Model Context Protocol over stdio (Claude Desktop, Cursor…).

    Tools: add_memory, search_memories, get_memory, update_memory, memory_history,
    delete_memory, delete_all_memories. With --url, they act through a running server.
    """
    from llm_memory.mcp import run_stdio

    if not user_id.strip():
        raise click.BadParameter("must not be empty", param_hint="--user")
    run_stdio(get_manager(), user_id.strip())
