"""Commands on a memory's changes: update, history."""

from __future__ import annotations

import json

import click

from llm_memory.cli.common import emit_json, get_manager, json_option, table, user_option
from llm_memory.cli.memories import full_id, type_choice

#: How the history names changes made from this command line.
ACTOR = "cli"


@click.command()
@click.argument("memory_id")
@user_option
@click.option("--content", "-c", help="The new text (embedded and indexed again).")
@click.option("--type", "-t", "type_", type=type_choice, help="The new type.")
@click.option("--importance", "-i", type=click.FloatRange(0, 1), help="The new importance.")
@json_option
def update(
    memory_id: str,
    user_id: str,
    content: str | None,
    type_: str | None,
    importance: float | None,
    as_json: bool,
) -> None:
    """Change a memory's content, type or importance; its id stays."""
    if content is None and type_ is None and importance is None:
        raise click.UsageError("Nothing to update: give --content, --type or --importance.")
    item = get_manager().update_memory(
        full_id(memory_id, user_id),
        user_id,
        content=content,
        type=type_,
        importance=importance,
        actor=ACTOR,
    )
    if as_json:
        emit_json(item.model_dump(mode="json"))
    else:
        click.echo(item.id)


@click.command()
@click.argument("memory_id")
@user_option
@json_option
def history(memory_id: str, user_id: str, as_json: bool) -> None:
    """Every recorded change to a memory, oldest first (also once it is forgotten)."""
    events = get_manager().history(full_id(memory_id, user_id), user_id)
    if as_json:
        emit_json([e.model_dump(mode="json") for e in events])
        return
    rows = [
        (e.timestamp, e.kind, e.memory_id[:12], e.actor or "-", _change(e.old, e.new))
        for e in events
    ]
    table(rows, ["time", "event", "id", "actor", "change"], max_width=80)


def _change(old: dict[str, object] | None, new: dict[str, object] | None) -> str:
    if old and new:
        return "; ".join(f"{key}: {_show(old.get(key))} -> {_show(new[key])}" for key in new)
    values = new or old or {}
    return _show(values.get("content", "")) if "content" in values else ""


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


COMMANDS = (update, history)
