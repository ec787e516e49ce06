"""The hook specifications: the contract between the core and every plugin.

A plugin is a module (or object) with functions decorated ``@llm_memory.hookimpl`` whose
names are the specs below. Each ``register_*`` hook returns named :class:`Provider`
records; the core collects them all, refuses duplicate names, and builds the one the
configuration selects. None of these hooks may import a vendor SDK or open a connection:
that belongs in the provider's factory.
"""

from __future__ import annotations

from collections.abc import Iterable

import click
import pluggy

from llm_memory.providers import Provider

hookspec = pluggy.HookspecMarker("llm_memory")
hookimpl = pluggy.HookimplMarker("llm_memory")


@hookspec
def register_storage_backends() -> Iterable[Provider]:
    """Offer vector-store backends that ``STORAGE_BACKEND`` can select by name.

    Called once, when the registry is first built. Names are lowercase and unique across
    installed plugins. The factory returns an :class:`llm_memory.storage.VectorStore`,
    which must pass ``llm_memory_testing.StorageContract``.
    """


@hookspec
def register_embedders() -> Iterable[Provider]:
    """Offer embedding providers that ``EMBEDDING_PROVIDER`` can select by name.

    The factory returns an :class:`llm_memory.embedding.Embedder`; ``EMBEDDING_MODEL``
    reaches it as ``settings.embedding_model``. It must pass
    ``llm_memory_testing.EmbedderContract``.
    """


@hookspec
def register_scorers() -> Iterable[Provider]:
    """Offer scorers that ``SCORER`` can select by name.

    The factory returns an :class:`llm_memory.scoring.Scorer`, which re-ranks a
    relevance-selected candidate set into the final order.
    """


@hookspec
def register_rerankers() -> Iterable[Provider]:
    """Offer rerankers that ``RERANKER`` can select by name (none is used by default).

    The factory returns an :class:`llm_memory.rerank.Reranker`, which re-orders the
    candidate set by relevance before the scorer runs.
    """


@hookspec
def register_summarizers() -> Iterable[Provider]:
    """Offer summarizers that ``SUMMARIZER`` can select by name.

    The factory returns an :class:`llm_memory.summarize.Summarizer`, which compresses
    older conversation turns into one summary memory.
    """


@hookspec
def register_snapshot_stores() -> Iterable[Provider]:
    """Offer snapshot stores that ``SNAPSHOT_STORE`` can select by name.

    The factory returns an :class:`llm_memory.snapshot.SnapshotStore`, a place that keeps
    snapshot archives. It must pass ``llm_memory_testing.SnapshotStoreContract``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add a command group to the ``llm-memory`` CLI.

    Add one group named after the plugin (``cli.add_command(group)``), never bare verbs.
    Import heavy modules inside the commands, not here: this runs for ``--help``.
    """
