"""Provider records: what every ``register_*`` hook returns."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

#: The hook kinds, in the order ``llm-memory plugins`` shows them, with their spec names.
KINDS: dict[str, str] = {
    "storage": "register_storage_backends",
    "embedder": "register_embedders",
    "scorer": "register_scorers",
    "reranker": "register_rerankers",
    "summarizer": "register_summarizers",
    "snapshot": "register_snapshot_stores",
}

#: Human names for messages ("Unknown storage backend 'x'").
KIND_LABELS: dict[str, str] = {
    "storage": "storage backend",
    "embedder": "embedding provider",
    "scorer": "scorer",
    "reranker": "reranker",
    "summarizer": "summarizer",
    "snapshot": "snapshot store",
}


#: The setting that selects each kind, for messages ("choose one with STORAGE_BACKEND=...").
KIND_SETTINGS: dict[str, str] = {
    "storage": "STORAGE_BACKEND",
    "embedder": "EMBEDDING_PROVIDER",
    "scorer": "SCORER",
    "reranker": "RERANKER",
    "summarizer": "SUMMARIZER",
    "snapshot": "SNAPSHOT_STORE",
}


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
