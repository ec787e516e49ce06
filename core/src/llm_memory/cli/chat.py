"""``llm-memory chat``: one message, or an interactive session, with long-term memory."""

from __future__ import annotations

from typing import Any

import click

from llm_memory.cli.common import emit_json, get_manager, get_settings


@click.command()
@click.argument("message", required=False)
@click.option(
    "--user", "-u", "user_id", default="default", show_default=True, help="Whose memory to use."
)
@click.option(
    "--session", "-s", "session_id", default=None, help="Conversation session [default: default]."
)
@click.option(
    "--demo", is_flag=True, help="Use the offline demo model (pattern rules, not an LLM)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print each reply as JSON (the reply, counts and records) instead of text.",
)
def chat(
    message: str | None, user_id: str, session_id: str | None, demo: bool, as_json: bool
) -> None:
    """Chat with memory: answer MESSAGE, or start an interactive session without one.

    The model is AGENT_MODEL (e.g. openai:gpt-4o-mini, Responses API); with AGENT_BASE_URL,
    any OpenAI-compatible server (Ollama, vLLM, llama.cpp; chat completions). AGENT_MODEL=demo
    (or --demo) is the offline demo model: pattern rules, not an LLM. Memories the agent
    proposes are saved after each reply; --json prints the reply with counts
    (memories_created, memories_retrieved) and records (created, retrieved).
    """
    service = _through_server(demo)
    if service is None:
        demo = demo or (get_settings().agent_model or "").strip() == "demo"
        service = _local_service(demo)
    if demo and not as_json:
        click.secho("Offline demo model: pattern rules, not an LLM.", fg="yellow", err=True)
    if message is not None:
        _show(service.chat(message, user_id, session_id), as_json)
        return
    _interactive(service, user_id, session_id, as_json)


def _through_server(demo: bool) -> Any:
    """With --url, the server's agent answers (``POST /chat``)."""
    if not (click.get_current_context().find_root().obj or {}).get("url"):
        return None
    if demo:
        raise click.UsageError("--demo runs the model here; drop --url, or drop --demo.")
    return get_manager()


def _local_service(demo: bool) -> Any:
    from llm_memory.agent import agent_from_settings, build_agent, demo_model
    from llm_memory.chat import ChatService

    # Resolve the model first: a missing AGENT_MODEL fails in one line before any store opens.
    agent = build_agent(demo_model()) if demo else agent_from_settings(get_settings())
    return ChatService(get_manager(), agent)


def _interactive(service: Any, user_id: str, session_id: str | None, as_json: bool) -> None:
    from llm_memory.errors import LLMMemoryError

    click.echo(
        f"Chatting as {user_id!r}, session {session_id or 'default'!r}. Empty line or Ctrl-D ends.",
        err=True,
    )
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False, err=True)
        except (EOFError, click.Abort):
            click.echo(err=True)
            return
        if not line.strip() or line.strip() in ("/quit", "/exit"):
            return
        try:
            _show(service.chat(line, user_id, session_id), as_json)
        except LLMMemoryError as exc:  # keep the session going; nothing was saved
            click.secho(f"Error: {str(exc).splitlines()[0]}", fg="red", err=True)


def _show(reply: Any, as_json: bool) -> None:
    if as_json:
        emit_json(reply.model_dump(mode="json"))
        return
    click.echo(reply.response)
    for item in reply.created:
        click.secho(
            f"  + remembered ({item.type}, {item.importance:.2f}): {item.content}",
            fg="green",
            err=True,
        )
    for memory_id in reply.forgotten:
        click.secho(f"  - forgot {memory_id}", fg="yellow", err=True)
    for reason in reply.proposals_refused:
        click.secho(f"  ! {reason}", fg="red", err=True)
