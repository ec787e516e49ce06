"""Provider records: what every ``register_*`` hook returns."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings


@dataclass(frozen=True)
class HookKind:
    """One kind of provider: the hook that registers it, how messages name it, the setting
    that selects it, and the base class its products implement (by import path, so that
    loading this table imports nothing heavy). A new kind is one entry in :data:`HOOK_KINDS`
    (and its spec in ``hookspecs.py``)."""

    name: str
    spec: str
    label: str
    setting: str
    base: str


#: The hook kinds, in the order ``llm-memory plugins`` shows them.
HOOK_KINDS: dict[str, HookKind] = {
    k.name: k
    for k in (
        HookKind(
            "storage",
            "register_storage_backends",
            "storage backend",
            "STORAGE_BACKEND",
            "llm_memory.storage:VectorStore",
        ),
        HookKind(
            "embedder",
            "register_embedders",
            "embedding provider",
            "EMBEDDING_PROVIDER",
            "llm_memory.embedding:Embedder",
        ),
        HookKind("scorer", "register_scorers", "scorer", "SCORER", "llm_memory.scoring:Scorer"),
        HookKind(
            "reranker", "register_rerankers", "reranker", "RERANKER", "llm_memory.rerank:Reranker"
        ),
        HookKind(
            "summarizer",
            "register_summarizers",
            "summarizer",
            "SUMMARIZER",
            "llm_memory.summarize:Summarizer",
        ),
        HookKind(
            "snapshot",
            "register_snapshot_stores",
            "snapshot store",
            "SNAPSHOT_STORE",
            "llm_memory.snapshot:SnapshotStore",
        ),
    )
}

# Views of the table under their old names.
#: kind -> its spec name.
KINDS: dict[str, str] = {k.name: k.spec for k in HOOK_KINDS.values()}
#: kind -> its human name, for messages ("Unknown storage backend 'x'").
KIND_LABELS: dict[str, str] = {k.name: k.label for k in HOOK_KINDS.values()}
#: kind -> the setting that selects it ("choose one with STORAGE_BACKEND=...").
KIND_SETTINGS: dict[str, str] = {k.name: k.setting for k in HOOK_KINDS.values()}


@dataclass(frozen=True)
class Provider:
    """A named implementation of one hook kind, selectable by configuration.

    ``factory(options, settings)`` builds the product. ``options`` is an instance of
    ``settings_model`` (validated from the environment and the provider's TOML section),
    or ``None`` when the provider has no settings model; ``settings`` is the core's
    :class:`llm_memory.settings.Settings`. Import vendor SDKs inside the factory, never at
    module level, so that loading plugins stays fast.

    ``settings_model`` may be named by import path (``"my_plugin.options:Options"``) so
    that the hook module need not import pydantic: ``llm-memory --help`` loads every hook
    module, and stays fast only if they are light.

    ``kind`` and ``distribution`` are filled in by the registry; plugins leave them empty.
    """

    name: str
    factory: Callable[[Any, Any], Any]
    settings_model: type[BaseSettings] | str | None = None
    description: str = ""
    kind: str = ""
    distribution: str = ""
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def options_model(self) -> type[BaseSettings] | None:
        """The settings model, imported if it was named by path."""
        model = self.settings_model
        if isinstance(model, str):
            module, _, attr = model.partition(":")
            return getattr(importlib.import_module(module), attr)
        return model

    def bound(self, kind: str, distribution: str, version: str) -> Provider:
        return replace(self, kind=kind, distribution=distribution, version=version)
