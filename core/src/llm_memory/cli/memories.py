"""Commands on memories: add, search, list, get, forget, forget-user, import, export."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime

import click

from llm_memory.cli.common import (
    confirm_destructive,
    emit_json,
    get_manager,
    json_option,
    plural,
    progress,
    table,
    user_option,
)
from llm_memory.vocab import MEMORY_TYPES

type_choice = click.Choice(MEMORY_TYPES)


def _metadata(pairs: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out[key] = value if isinstance(value, str | int | float | bool) else raw
    return out


@click.command()
@click.argument("text")
@user_option
@click.option("--type", "-t", "type_", type=type_choice, default="semantic", show_default=True)
@click.option("--importance", "-i", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--session", "session_id", help="Session the memory belongs to.")
@click.option("--meta", "-m", multiple=True, help="Metadata KEY=VALUE (repeatable).")
@json_option
def add(
    text: str,
    user_id: str,
    type_: str,
    importance: float,
    session_id: str | None,
    meta: tuple[str, ...],
    as_json: bool,
) -> None:
    """Store a memory (identical text for the same user is refreshed, not duplicated)."""
    item = get_manager().write_memory(
        text,
        user_id,
        type=type_,
        importance=importance,
        session_id=session_id,
        metadata=_metadata(meta),
        actor="cli",
    )
    if as_json:
        emit_json(item.model_dump(mode="json"))
    else:
        click.echo(item.id)


@click.command()
@click.argument("query")
@user_option
@click.option(
    "-k", "--limit", type=click.IntRange(1, 1000), help="How many (default MAX_ACTIVE_MEMORIES)."
)
@click.option("--type", "-t", "types", type=type_choice, multiple=True, help="Only these types.")
@click.option(
    "--min-relevance",
    type=click.FloatRange(0, 1),
    help="Drop memories below this relevance (default MIN_RELEVANCE; 0 keeps all).",
)
@json_option
def search(
    query: str,
    user_id: str,
    limit: int | None,
    types: tuple[str, ...],
    min_relevance: float | None,
    as_json: bool,
) -> None:
    """Retrieve the memories most relevant to QUERY, with their score components.

    Relevance is absolute (0-1, comparable across queries); memories below MIN_RELEVANCE
    are not shown."""
    results = get_manager().retrieve(
        query, user_id, limit=limit, types=types or None, min_relevance=min_relevance
    )
    if as_json:
        emit_json([r.model_dump(mode="json") for r in results])
        return
    if not results:
        floor = "MIN_RELEVANCE" if min_relevance is None else f"{min_relevance:g}"
        hint = "" if min_relevance == 0 else f" (none reaches {floor}; --min-relevance 0 shows all)"
        click.echo(f"No memories for user {user_id!r} match{hint}.", err=True)
        return
    rows = [
        (
            f"{r.score:.3f}",
            f"{r.relevance:.2f}",
            f"{r.importance:.2f}",
            f"{r.recency:.2f}",
            r.memory.type,
            r.memory.id[:12],
            r.memory.content,
        )
        for r in results
    ]
    table(rows, ["score", "rel", "imp", "rec", "type", "id", "content"])


@click.command("list")
@user_option
@click.option("--type", "-t", "types", type=type_choice, multiple=True, help="Only these types.")
@click.option("--since", type=click.DateTime(), help="Created at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Created before (UTC).")
@click.option("--session", "session_id", help="Only this session.")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@json_option
def list_(
    user_id: str,
    types: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    session_id: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List a user's memories, oldest first (a page: --limit, default 50, from --offset)."""
    manager = get_manager()
    filters = {"types": types or None, "since": since, "until": until, "session_id": session_id}
    items = manager.list(user_id, limit=limit, offset=offset, **filters)
    if as_json:
        emit_json([m.model_dump(mode="json") for m in items])
        return
    table(
        [(m.id[:12], m.type, f"{m.importance:.2f}", m.created_at, m.content) for m in items],
        ["id", "type", "imp", "created", "content"],
    )
    if len(items) == limit or offset:  # a page of more: say how many there are in all
        total = _count(manager, user_id, filters)
        if not items:
            click.echo(f"No memories from --offset {offset}: there are {total}.", err=True)
        elif offset or total > len(items):
            shown = f"{offset + 1}-{offset + len(items)}"
            more = (
                f"; the next page: --offset {offset + len(items)}"
                if total > offset + len(items)
                else ""
            )
            click.echo(
                f"Showing {shown} of {total} (use --limit N and --offset N to page{more}).",
                err=True,
            )


def _count(manager: object, user_id: str, filters: dict[str, object]) -> int:
    """How many memories match, counted a page at a time (the store may not count filters)."""
    total, page = 0, 1000
    while True:
        got = len(manager.list(user_id, limit=page, offset=total, **filters))  # type: ignore[attr-defined]
        total += got
        if got < page:
            return total


@click.command()
@click.argument("memory_id")
@user_option
@json_option
def get(memory_id: str, user_id: str, as_json: bool) -> None:
    """Show one memory in full."""
    item = get_manager().get(full_id(memory_id, user_id), user_id)
    if as_json:
        emit_json(item.model_dump(mode="json"))
    else:
        for key, value in item.model_dump(mode="json").items():
            click.echo(f"{key}: {value}")


def full_id(memory_id: str, user_id: str) -> str:
    """Accept the 12-character prefix that tables show, when it is unambiguous."""
    if len(memory_id) >= 32:
        return memory_id
    manager = get_manager()
    matches = [m.id for m in manager.iter_memories(user_id) if m.id.startswith(memory_id)]
    if len(matches) > 1:
        raise click.ClickException(
            f"{memory_id!r} matches {len(matches)} memories; give more of the id."
        )
    return matches[0] if matches else memory_id


@click.command()
@click.argument("memory_id")
@user_option
@json_option
def forget(memory_id: str, user_id: str, as_json: bool) -> None:
    """Delete one memory of a user."""
    full = full_id(memory_id, user_id)
    if not get_manager().forget(full, user_id, actor="cli"):
        raise click.ClickException(
            f"No memory {memory_id!r} for user {user_id!r}; nothing was deleted."
        )
    if as_json:
        emit_json({"forgotten": full, "user_id": user_id})
    else:
        click.echo(f"Forgot {full}.")


@click.command("forget-user")
@user_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def forget_user(user_id: str, yes: bool, as_json: bool) -> None:
    """Delete every memory of a user."""
    confirm_destructive(f"Delete every memory of user {user_id!r}?", yes)
    count = get_manager().forget_user(user_id)
    if as_json:
        emit_json({"deleted": count, "user_id": user_id})
    else:
        click.echo(f"Deleted {plural(count, 'memory', 'memories')} of {user_id!r}.")


@click.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--user", "-u", "user_id", help="Import every memory as this user.")
@json_option
def import_(source: click.utils.LazyFile, user_id: str | None, as_json: bool) -> None:
    """Import memories from a JSONL file (`-` for stdin). Validates every line first.

    Memories already stored (the same id) are refreshed, not duplicated: importing the
    same file again is safe, also after an interrupted import.
    """
    from llm_memory.portability import ImportInterrupted

    try:
        lines = source.readlines()
        manager = get_manager()
        total = sum(1 for line in lines if line.strip())
        bars: list[Callable[[int], None]] = []
        with ExitStack() as stack:  # the bar starts with the first batch: after validation

            def update(n: int) -> None:
                if not bars:
                    bars.append(stack.enter_context(progress(total, "Importing")))
                bars[0](n)

            count = manager.import_(lines, user_id=user_id, progress=update)
    except ImportInterrupted as exc:
        click.echo(str(exc), err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted: nothing was imported.", err=True)
        sys.exit(130)
    new, refreshed = getattr(count, "new", None), getattr(count, "refreshed", None)
    if as_json:
        emit_json({"imported": count, "new": new, "refreshed": refreshed})
    elif new is None:
        click.echo(f"Imported {plural(count, 'memory', 'memories')}.")
    else:
        click.echo(
            f"Imported {plural(count, 'memory', 'memories')}: {new} new, {refreshed} refreshed "
            "(already stored)."
        )


@click.command()
@click.option("--user", "-u", "user_id", help="Only this user's memories.")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File (default stdout).",
)
def export(user_id: str | None, output: click.utils.LazyFile) -> None:
    """Export memories as JSON lines (vectors are recomputed on import)."""
    count = 0
    for line in get_manager().export(user_id):
        output.write(line)
        count += 1
    if output is not sys.stdout:
        click.echo(f"Exported {plural(count, 'memory', 'memories')}.", err=True)


COMMANDS = (add, search, list_, get, forget, forget_user, import_, export)
