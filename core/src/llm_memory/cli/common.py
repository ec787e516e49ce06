"""What every command shares: building the manager, printing data, failing in one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from llm_memory.manager import MemoryManager

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
user_option = click.option(
    "--user", "-u", "user_id", required=True, help="The user the memories belong to."
)


def get_manager(
    ctx: click.Context | None = None, *, local: bool = False, **overrides: Any
) -> MemoryManager:
    """The manager for this invocation, built once from ``--config`` and the environment;
    closed (pending writes flushed) when the command ends.

    With ``--url`` / ``LLM_MEMORY_URL`` (and not ``local``) it is the server instead: a
    :class:`~llm_memory.client.MemoryClient` behind :class:`ThroughServer`, so every command
    written against the manager's memory methods works unchanged through a running server.
    """
    from llm_memory.manager import MemoryManager

    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    root.ensure_object(dict)
    if root.obj.get("url") and not local:
        return _through_server(root)  # type: ignore[return-value]
    if "manager" not in root.obj or overrides:
        manager = MemoryManager.from_settings(config_file=root.obj.get("config"), **overrides)
        root.obj["manager"] = manager
        root.call_on_close(manager.close)
    return root.obj["manager"]


class ThroughServer:
    """A :class:`~llm_memory.client.MemoryClient` where commands expect the manager: the
    memory methods go to the server; the engine's own parts (store, settings, snapshots…)
    fail in one line that says to run the command on the server's host."""

    #: What the HTTP API offers (the methods of :class:`llm_memory.service.MemoryService`).
    METHODS = frozenset(
        [
            "write_memory",
            "write_memories",
            "retrieve",
            "list",
            "iter_memories",
            "get",
            "update_memory",
            "history",
            "forget",
            "forget_user",
            "stats",
            "users",
            "export",
            "import_",
            "chat",
            "snapshots",
            "flush",
            "close",
        ]
    )

    def __init__(self, client: Any, command: str) -> None:
        self.client = client
        self.command = command

    def __getattr__(self, name: str) -> Any:
        if name in self.METHODS:
            return getattr(self.client, name)
        from llm_memory.errors import ConfigError

        raise ConfigError(
            f"`llm-memory {self.command}` works on the store itself, not through a server: "
            "run it on the server's host without --url / LLM_MEMORY_URL."
        )


def _through_server(root: click.Context) -> ThroughServer:
    if "client" not in root.obj:
        from llm_memory.client import MemoryClient

        client = MemoryClient(root.obj["url"], root.obj.get("api_key"))
        root.obj["client"] = client
        root.call_on_close(client.close)
    command = click.get_current_context().command_path.partition(" ")[2]
    return ThroughServer(root.obj["client"], command)


def get_settings(ctx: click.Context | None = None) -> Any:
    from llm_memory.settings import load_settings

    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    root.ensure_object(dict)
    return load_settings(root.obj.get("config"))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 memory``, ``2 memories``: the count with the noun that agrees with it."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def human(value: Any) -> str:
    """A value of ``stats`` as a person reads it: lists and mappings without Python syntax."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={human(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return "; ".join(_item(v) for v in value) or "none"
    return "none" if value is None else str(value)


def _item(value: Any) -> str:
    if not isinstance(value, dict):
        return human(value)
    rest = dict(value)
    name, kind, columns = rest.pop("name", None), rest.pop("type", None), rest.pop("columns", None)
    head = " ".join(str(p) for p in (name, f"({kind})" if kind else None) if p)
    if columns:
        head += f" on {', '.join(map(str, columns)) if isinstance(columns, list) else columns}"
    tail = ", ".join(f"{k.replace('_', ' ')} {human(v)}" for k, v in rest.items())
    return f"{head}: {tail}" if head and tail else head or tail


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], max_width: int = 60) -> None:
    """A plain aligned table; long cells are cut with an ellipsis."""

    def cell(value: Any) -> str:
        text = value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (so --json output stays clean)."""
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def interactive() -> bool:
    """Whether stdin is a terminal a person can answer a prompt on."""
    return sys.stdin.isatty()


def confirm_destructive(question: str, yes: bool) -> None:
    """Ask ``question`` on a terminal; without one, refuse unless ``--yes`` was given (a
    pipe or a cron job must never delete by default)."""
    if yes:
        return
    if not interactive():
        raise click.ClickException(f"{question} Refusing without a terminal to ask on: pass --yes.")
    click.confirm(question, abort=True)
