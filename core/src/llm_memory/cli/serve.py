"""``llm-memory serve``: the HTTP API (FastAPI + uvicorn), JSON logs on stderr."""

from __future__ import annotations

import os
from typing import Any

import click

from llm_memory.cli.common import get_manager, get_settings


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: API_HOST, 127.0.0.1].")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port [default: API_PORT, 8000]."
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Worker processes; each opens the store itself, so use a client/server backend with more than one.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, workers: int, log_level: str
) -> None:
    """Serve the HTTP API: /chat, /memories, /snapshots, /stats, /mcp, /healthz, /docs.

    API_KEYS maps each key to "admin" or to the user ids it may touch; without keys the
    server accepts loopback clients only and refuses to listen on another address.
    """
    import uvicorn

    from llm_memory.api.auth import KeyRing, is_loopback
    from llm_memory.api.logs import configure_logging
    from llm_memory.errors import ConfigError

    settings = get_settings(ctx)
    host = host or settings.api_host
    port = port or settings.api_port
    keys = settings.api_keys.get_secret_value()
    KeyRing(keys)  # refuse malformed keys before binding
    from llm_memory.agent.model import check_agent_model

    check_agent_model(settings)
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without API keys: set API_KEYS "
            """(e.g. '{"<key>": "admin"}') or use --host 127.0.0.1."""
        )
    if workers > 1:
        _refuse_unshareable(ctx, workers)
    configure_logging(log_level)
    _say_model(settings)
    if not keys:
        click.echo(
            f"No API keys configured: listening on loopback only (http://{host}:{port}); "
            "set API_KEYS to serve other clients.",
            err=True,
        )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "log_config": _log_config(log_level),
    }
    if workers == 1:
        from llm_memory.api.factory import create_app

        uvicorn.run(create_app(get_manager(ctx, local=True)), **options)
        return
    config = ctx.find_root().obj.get("config") if ctx.find_root().obj else None
    if config:
        os.environ["LLM_MEMORY_CONFIG"] = os.path.abspath(config)
    if settings.snapshot_interval:
        os.environ["LLM_MEMORY_SERVE_SCHEDULE"] = "0"
        click.echo(
            "SNAPSHOT_INTERVAL is not applied with --workers > 1 (each worker would take them): "
            "run `llm-memory snapshot schedule` alongside.",
            err=True,
        )
    # Workers import the whole stack before they answer the supervisor's health check.
    uvicorn.run("llm_memory.api:app", workers=workers, timeout_worker_healthcheck=60, **options)


def _say_model(settings: Any) -> None:
    """Say when /chat answers with the demo model, or not at all."""
    from llm_memory.agent.model import DEMO, DEMO_NOTICE

    name = (settings.agent_model or "").strip()
    if name == DEMO:
        click.echo(DEMO_NOTICE, err=True)
    elif not name:
        click.echo(
            "No AGENT_MODEL set: /chat answers 503 until one is (AGENT_MODEL=demo for the "
            "offline demo model); the memory endpoints work without it.",
            err=True,
        )


def _refuse_unshareable(ctx: click.Context, workers: int) -> None:
    """Refuse, before binding, a store that one process at a time may open: every worker
    opens it itself, and all but one would die (embedded Chroma holds a directory lock)."""
    from llm_memory.errors import ConfigError

    manager = get_manager(ctx)
    store = manager.store
    if {"shared", "multiprocess"} & set(store.capabilities):
        manager.close()  # release the store before the workers open it
        ctx.find_root().obj.pop("manager", None)
        return
    where = store.describe().get("location") or store.describe().get("path") or "in memory"
    raise ConfigError(
        f"Storage backend {store.name!r} ({where}) can be opened by one process only, so "
        f"--workers {workers} cannot share it: use --workers 1, or a store that processes "
        "share (a Chroma server with CHROMA_HOST, LanceDB, Postgres with POSTGRES_DSN, or "
        "the memory backend's file)."
    )


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's own messages as JSON lines too, like the app's."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "llm_memory.api.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
        },
    }
