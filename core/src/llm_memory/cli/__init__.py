"""The ``llm-memory`` command line. Errors print one line and exit 1."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from llm_memory.cli import admin, changes, memories
from llm_memory.cli.chat import chat
from llm_memory.cli.demo import demo
from llm_memory.cli.mcp import mcp
from llm_memory.cli.serve import serve
from llm_memory.cli.snapshots import snapshot
from llm_memory.plugins import get_plugin_manager


class MemoryGroup(click.Group):
    """Turns the core's errors (and any other) into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`llm-memory list … | head`): stop quietly, as a shell
            # tool does; output still buffered would fail again at exit, so it goes nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:
            if os.environ.get("LLM_MEMORY_DEBUG"):
                raise
            from llm_memory.errors import LLMMemoryError

            message = (
                str(exc) if isinstance(exc, LLMMemoryError) else f"{type(exc).__name__}: {exc}"
            )
            hint = (
                ""
                if isinstance(exc, LLMMemoryError)
                else " (set LLM_MEMORY_DEBUG=1 for the traceback)"
            )
            click.echo(
                f"Error: {message.splitlines()[0] if message else type(exc).__name__}{hint}",
                err=True,
            )
            sys.exit(1)


@click.group(cls=MemoryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-memory")
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    envvar="LLM_MEMORY_CONFIG",
    help="TOML config file (default: ./llm-memory.toml if present).",
)
@click.option(
    "--url",
    envvar="LLM_MEMORY_URL",
    help="Act through a running `llm-memory serve` at this URL instead of opening the store.",
)
@click.option(
    "--api-key",
    envvar="LLM_MEMORY_API_KEY",
    help="API key for --url (default: LLM_MEMORY_API_KEY).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None, url: str | None, api_key: str | None) -> None:
    """Long-term memory for LLM agents.

    Settings come from environment variables (STORAGE_BACKEND, EMBEDDING_PROVIDER…) and
    llm-memory.toml; `llm-memory config` shows the effective ones.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(config=config, url=url, api_key=api_key)


for command in (
    *memories.COMMANDS,
    *changes.COMMANDS,
    *admin.COMMANDS,
    snapshot,
    chat,
    serve,
    demo,
    mcp,
):
    cli.add_command(command)

# Plugins add their own command groups (register_commands); a failure is recorded, not fatal.
get_plugin_manager().commands(cli)
