"""What ``llm-memory config`` shows: every setting with its value and where it came from, then
the selected providers' own settings, secrets masked."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Secret, SecretStr

from llm_memory.errors import one_line
from llm_memory.providers import HOOK_KINDS
from llm_memory.settings import Settings, build_options, masked

MASK = "********"
#: Field names whose values are masked even when they are not typed as secrets.
_SECRET_NAME = re.compile(r"(^|_)(key|token|secret|password|credentials?|headers|dsn)$", re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def report(settings: Settings) -> dict[str, Any]:
    """``{"config_file", "settings", "sources", "providers"}``, JSON-able, secrets masked."""
    values = masked(settings)
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "settings": values,
        "sources": {name: settings.source(name) for name in values},
        "providers": [_provider(kind, name, settings) for kind, name in selected(settings)],
    }


def selected(settings: Settings) -> list[tuple[str, str]]:
    """``(kind, provider name)`` for each hook kind the settings select (a reranker only if set)."""
    chosen = []
    for kind in HOOK_KINDS.values():
        name = getattr(settings, kind.setting.lower(), None)
        if name:
            chosen.append((kind.name, str(name)))
    return chosen


def _provider(kind: str, name: str, settings: Settings) -> dict[str, Any]:
    from llm_memory.plugins import get_plugin_manager

    entry: dict[str, Any] = {
        "kind": kind,
        "label": HOOK_KINDS[kind].label,
        "name": name,
        "distribution": None,
        "settings": {},
        "sources": {},
        "variables": {},
        "error": None,
    }
    try:
        provider = get_plugin_manager().get(kind, name)
        entry["distribution"] = f"{provider.distribution} {provider.version}".strip()
        model = provider.options_model()
        if model is None:
            return entry
        options = build_options(model, settings, name)
    except Exception as exc:  # shown, not raised: `config` is where one looks for the cause
        entry["error"] = one_line(exc, None)
        return entry
    prefix = str(model.model_config.get("env_prefix") or "")
    arguments, table = settings.provider_arguments(name), settings.section(name)
    for field, info in model.model_fields.items():
        names = _variables(prefix, field, info.validation_alias)
        entry["variables"][field] = names[0]
        entry["settings"][field] = _shown(field, getattr(options, field))
        if field in arguments:
            entry["sources"][field] = "argument"
        elif any(_in_environment(n) for n in names):
            entry["sources"][field] = "environment"
        elif field in table:
            entry["sources"][field] = "file"
        else:
            entry["sources"][field] = "default"
    return entry


def _variables(prefix: str, field: str, alias: Any) -> list[str]:
    names = [(prefix + field).upper()]
    if isinstance(alias, AliasChoices):
        names = [str(c).upper() for c in alias.choices if isinstance(c, str)] or names
    elif isinstance(alias, str):
        names = [alias.upper()]
    return names


def _shown(field: str, value: Any) -> Any:
    if isinstance(value, SecretStr | Secret):
        return MASK if value.get_secret_value() else ""
    if value and _SECRET_NAME.search(field):
        return {k: MASK for k in value} if isinstance(value, dict) else MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1{MASK}@", value)
    return value


def _in_environment(name: str) -> bool:
    return any(key.upper() == name for key in os.environ)


def keyword_side(settings: Settings) -> str:
    """The keyword index the settings give (``KEYWORD_INDEX`` resolved against the storage
    backend), in one line; the store is opened and closed, the core's index is not built."""
    from llm_memory.keyword import planned_keyword_side
    from llm_memory.plugins import build

    try:
        store = build("storage", settings.storage_backend, settings)
    except Exception as exc:  # shown, not raised, like a provider that cannot be built
        return f"KEYWORD_INDEX={settings.keyword_index}; cannot open the store to tell: {one_line(exc, None)}"
    try:
        return planned_keyword_side(store, settings)
    finally:
        store.close()
