"""Commands about the installation: plugins, config, stats, purge, reindex."""

from __future__ import annotations

import click

from llm_memory.cli.common import (
    confirm_destructive,
    emit_json,
    get_manager,
    get_settings,
    human,
    json_option,
    plural,
    progress,
    table,
)
from llm_memory.providers import KIND_LABELS


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """Installed plugin distributions, their providers by kind, and load errors."""
    from llm_memory.plugins import get_plugin_manager

    pm = get_plugin_manager()
    described = pm.describe()
    if as_json:
        emit_json(described)
        return
    for dist in described:
        click.echo(f"{dist['name']} {dist['version']}")
        for kind, names in dist["providers"].items():
            click.echo(f"  {KIND_LABELS[kind]}: {', '.join(names)}")
        if dist["error"]:
            click.echo(f"  failed to load: {dist['error']}")


@click.command()
@json_option
def config(as_json: bool) -> None:
    """The effective settings (secrets masked) and where each came from (default, file,
    environment, argument), then the selected providers' own settings."""
    from llm_memory.settings_report import keyword_side, report

    settings = get_settings()
    data = report(settings)
    data["keyword_index"] = keyword_side(settings)
    if as_json:
        emit_json(data)
        return
    click.echo(f"# config file: {data['config_file'] or 'none'}")
    click.echo(f"# keyword index: {data['keyword_index']}")
    rows = [(k.upper(), v, data["sources"][k]) for k, v in data["settings"].items()]
    table(rows, ["variable", "value", "source"], max_width=80)
    for provider in data["providers"]:
        where = f" ({provider['distribution']})" if provider["distribution"] else ""
        click.echo(f"\n# {provider['label']} {provider['name']!r}{where}")
        if provider["error"]:
            click.echo(f"  cannot be built: {provider['error']}")
        elif not provider["settings"]:
            click.echo("  no settings of its own")
        else:
            rows = [
                (provider["variables"][f], v, provider["sources"][f])
                for f, v in provider["settings"].items()
            ]
            table(rows, ["variable", "value", "source"], max_width=80)


@click.command()
@json_option
def stats(as_json: bool) -> None:
    """Counts by user and type, the backend, the embedder and its usage."""
    data = get_manager().stats()
    if as_json:
        emit_json(data)
        return
    for key, value in data["storage"].items():
        if key != "memories":  # the backend's own count: shown once, below, as the total
            click.echo(f"{key}: {human(value)}")
    click.echo(f"keyword index: {data['keyword_index']}")
    emb = data["embedder"]
    click.echo(f"embedder: {emb['name']}/{emb['model']} ({emb['dimension']} dimensions)")
    rec = data["recorded_embedder"]
    if rec and rec != emb:
        click.echo(
            f"recorded embedder: {rec['name']}/{rec['model']} ({rec['dimension']}) — run `llm-memory reindex`"
        )
    usage = data["embedding_usage"]
    click.echo("embedding usage (this process): " + ", ".join(f"{k}={v}" for k, v in usage.items()))
    if data.get("embedding_usage_total"):
        totals = data["embedding_usage_total"]
        click.echo(
            "embedding usage (all time, from the cache): "
            + ", ".join(f"{k}={v}" for k, v in totals.items())
        )
    click.echo(f"memories: {data['total']}")
    if data["users"]:
        kinds = ["semantic", "preference", "fact", "episodic", "total"]
        table([(u, *(c[k] for k in kinds)) for u, c in data["users"].items()], ["user", *kinds])


@click.command()
@click.option("--days", type=click.IntRange(1), help="Retention in days (default RETENTION_DAYS).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def purge(days: int | None, yes: bool, as_json: bool) -> None:
    """Delete memories not used within the retention period."""
    manager = get_manager()
    days = days or manager.settings.retention_days
    confirm_destructive(f"Delete every memory not used in the last {days} days?", yes)
    removed = manager.purge(days)
    if as_json:
        emit_json({"purged": removed, "retention_days": days})
    else:
        click.echo(f"Purged {plural(removed, 'memory', 'memories')} not used in {days} days.")


@click.command()
@json_option
def reindex(as_json: bool) -> None:
    """Re-embed every memory with the configured embedder."""
    manager = get_manager()
    total = manager.store.count()
    with progress(total, "Re-embedding") as update:
        count = manager.reindex(progress=update)
    info = manager.embedder.info()
    if as_json:
        emit_json({"reindexed": count, "embedder": info.model_dump()})
    else:
        click.echo(f"Re-embedded {plural(count, 'memory', 'memories')} with {info}.")


COMMANDS = (plugins, config, stats, purge, reindex)
