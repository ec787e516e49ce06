"""``llm-memory snapshot``: create, list, restore, delete, prune, schedule."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from llm_memory.cli.common import (
    confirm_destructive,
    emit_json,
    get_manager,
    get_settings,
    json_option,
    plural,
    table,
)

_PHASES = {
    "dump": "Reading memories",
    "verify": "Verifying",
    "embed": "Re-embedding",
    "apply": "Restoring",
}


def _snapshots(ctx: click.Context | None = None, *, store_only: bool = False) -> Any:
    """The snapshots: through the server with --url; else the manager's, or for commands
    that touch only the snapshot store (``store_only``: list, delete, prune) one built
    without opening the memory store, so that a running ``serve`` does not block them."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if store_only and not (root.obj or {}).get("url"):
        from llm_memory.snapshot.engine import Snapshots

        return Snapshots(_SnapshotStoreOnly(get_settings(ctx)))
    return get_manager(ctx).snapshots


class _SnapshotStoreOnly:
    """What listing, deleting and pruning snapshots need: the settings and the snapshot
    store (the memory store is never opened)."""

    def __init__(self, settings: Any) -> None:
        from llm_memory.plugins import build

        self.settings = settings
        self.snapshot_store = build("snapshot", settings.snapshot_store, settings)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar per phase of the work, on stderr (``--json`` output stays clean)."""
    state: dict[str, Any] = {"phase": None, "bar": None, "done": 0}

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].render_finish()
            state["bar"] = None

    def report(phase: str, done: int, total: int) -> None:
        if phase != state["phase"]:
            close()
            state.update(phase=phase, done=0)
            state["bar"] = click.progressbar(
                length=max(total, 1), label=_PHASES.get(phase, phase), file=sys.stderr
            )
            state["bar"].__enter__()
        bar = state["bar"]
        bar.length = max(total, 1)
        bar.update(done - state["done"])
        state["done"] = done

    try:
        yield report
    finally:
        close()


def _row(ref: Any) -> dict[str, Any]:
    manifest = ref.manifest
    return {
        "id": ref.id,
        "created_at": ref.created_at.isoformat(),
        "size": ref.size,
        "total": manifest.get("total"),
        "counts": manifest.get("counts", {}),
        "user_id": (manifest.get("scope") or {}).get("user_id"),
        "backend": (manifest.get("backend") or {}).get("backend"),
        "embedder": manifest.get("embedder"),
    }


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.group("snapshot")
def snapshot() -> None:
    """Back up and restore the whole memory store (or one user's memories).

    Snapshots are logical archives (records, vectors, checksums): one taken from one
    backend restores into another, and a different embedder re-embeds on restore.
    SNAPSHOT_STORE picks where they are kept (local: SNAPSHOT_DIR; s3: llm-memory-s3).
    """


@snapshot.command("create")
@click.option("--user", "-u", "user_id", help="Only this user's memories (an export).")
@click.option(
    "--quiet", "-q", is_flag=True, help="Print the snapshot's id alone (for scripts), no progress."
)
@json_option
def create(user_id: str | None, quiet: bool, as_json: bool) -> None:
    """Take a snapshot now; prints its id (alone with --quiet; as "id" with --json)."""
    snapshots = _snapshots()
    if quiet:
        ref = snapshots.create(user_id=user_id)
    else:
        with _progress() as report:
            ref = snapshots.create(user_id=user_id, progress=report)
    if as_json:
        emit_json(_row(ref))
    elif quiet:
        click.echo(ref.id)
    else:
        total = ref.manifest.get("total", 0)
        click.echo(f"Snapshot {ref.id}: {plural(total, 'memory', 'memories')}, {_size(ref.size)}.")


@snapshot.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Every complete snapshot, newest first."""
    rows = [_row(ref) for ref in _snapshots(store_only=True).list()]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No snapshots yet. Take one with `llm-memory snapshot create`.")
        return
    table(
        [
            (
                r["id"],
                r["created_at"][:19],
                _size(r["size"]),
                r["total"],
                r["user_id"] or "all",
                len(r["counts"]),
            )
            for r in rows
        ],
        ["ID", "CREATED", "SIZE", "MEMORIES", "SCOPE", "USERS"],
    )


@snapshot.command("restore")
@click.argument("snapshot_id", default="latest")
@click.option("--user", "-u", "user_id", help="Restore only this user; the others are not touched.")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Restore an archive file instead of a stored snapshot.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def restore(
    snapshot_id: str, user_id: str | None, path: Path | None, yes: bool, as_json: bool
) -> None:
    """Replace the store's contents with snapshot SNAPSHOT_ID (default: latest).

    The archive is downloaded and every checksum verified before the store is touched;
    a damaged archive changes nothing.
    """
    snapshots = _snapshots()
    what = (
        f"the memories of user {user_id!r} only (other users are not touched)"
        if user_id
        else "every memory in the store"
    )
    confirm_destructive(f"Replace {what} with snapshot {path or snapshot_id}?", yes)
    with _progress() as report:
        result = snapshots.restore(snapshot_id, user_id=user_id, path=path, progress=report)
    if as_json:
        emit_json(result.as_dict())
        return
    note = " (re-embedded with the configured embedder)" if result.reembedded else ""
    whose = f" for {result.user_id!r}" if result.user_id else ""
    restored = plural(result.restored, "memory", "memories")
    click.echo(f"Restored {restored}{whose} from {result.snapshot_id}{note}.")


@snapshot.command("delete")
@click.argument("snapshot_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(snapshot_id: str, yes: bool, as_json: bool) -> None:
    """Delete one snapshot."""
    snapshots = _snapshots(store_only=True)
    ref = snapshots.get(snapshot_id)
    confirm_destructive(f"Delete snapshot {ref.id}?", yes)
    snapshots.delete(ref.id)
    if as_json:
        emit_json({"deleted": [ref.id]})
    else:
        click.echo(f"Deleted snapshot {ref.id}.")


@snapshot.command("prune")
@click.option(
    "--keep",
    "-k",
    type=click.IntRange(min=0),
    required=True,
    help="How many of the newest to keep in each scope: N of the whole store, and N of each "
    "user's exports.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def prune(keep: int, yes: bool, as_json: bool) -> None:
    """Delete all but the KEEP newest snapshots of each scope: KEEP of the whole store, and
    KEEP of each user's exports (`snapshot create --user`)."""
    confirm_destructive(f"Delete all but the {keep} newest snapshots of each scope?", yes)
    deleted = _snapshots(store_only=True).prune(keep)
    if as_json:
        emit_json({"deleted": deleted})
    else:
        click.echo(
            f"Deleted {plural(len(deleted), 'snapshot')}; kept the newest {keep} of each scope "
            "(the whole store, and each user's exports)."
        )


@snapshot.command("schedule")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    help="Hours between snapshots (default: SNAPSHOT_INTERVAL).",
)
@click.option(
    "--keep",
    "-k",
    type=click.IntRange(min=1),
    help="Prune to this many after each (default: SNAPSHOT_KEEP).",
)
@click.option("--max-snapshots", type=click.IntRange(min=1), hidden=True)
def schedule(interval: float | None, keep: int | None, max_snapshots: int | None) -> None:
    """Take snapshots on a schedule until interrupted (what `serve` does with SNAPSHOT_INTERVAL)."""
    from llm_memory.snapshot.schedule import run_schedule

    manager = get_manager()
    interval = interval or manager.settings.snapshot_interval
    keep = keep or manager.settings.snapshot_keep
    if not interval:
        raise click.UsageError("Give --interval HOURS or set SNAPSHOT_INTERVAL.")

    def taken(ref: Any, pruned: list[str]) -> None:
        extra = f"; pruned {plural(len(pruned), 'snapshot')}" if pruned else ""
        total = plural(ref.manifest.get("total", 0), "memory", "memories")
        click.echo(f"Snapshot {ref.id}: {total}, {_size(ref.size)}{extra}.")

    click.echo(
        f"Taking a snapshot every {interval:g} hour(s){f', keeping {keep}' if keep else ''}. Ctrl-C stops."
    )
    run_schedule(manager, interval, keep, on_snapshot=taken, max_snapshots=max_snapshots)
