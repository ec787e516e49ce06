"""Plugin loading and provider selection.

The core's own providers are plugins like any other (``DEFAULT_PLUGINS``). Third-party
plugins register through the ``llm_memory`` entry-point group. A plugin that fails to load
is recorded, reported by ``llm-memory plugins``, and named in the error when one of its
providers is selected; it never breaks other commands.

Environment variables:

``LLM_MEMORY_LOAD_PLUGINS``
    Comma-separated distribution or entry-point names to load; empty loads none.
    Unset loads every installed plugin. A name that no installed plugin has is reported
    (one warning line on stderr, and by ``llm-memory plugins``).
``LLM_MEMORY_TRACE_PLUGINS``
    Set to 1 to print every hook call and its result to stderr.
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pluggy

from llm_memory import hookspecs
from llm_memory.errors import ConfigError, ProviderLoadError, ProviderNotFound
from llm_memory.providers import KIND_LABELS, KIND_SETTINGS, KINDS, Provider

log = logging.getLogger("llm_memory.plugins")
ENTRY_POINT_GROUP = "llm_memory"
CORE_DISTRIBUTION = "llm-memory"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "llm_memory.default_plugins.storage",
    "llm_memory.default_plugins.embedders",
    "llm_memory.default_plugins.scorers",
    "llm_memory.default_plugins.summarizers",
    "llm_memory.default_plugins.llm_summarizer",
    "llm_memory.default_plugins.snapshots",
    "llm_memory.default_plugins.commands",
)

#: Where the well-known providers come from, for "install it with" hints.
KNOWN_PROVIDERS: dict[str, str] = {
    "chroma": "llm-memory-chroma",
    "lancedb": "llm-memory-lancedb",
    "openai": "llm-memory-openai",
    "cohere": "llm-memory-cohere",
    "s3": "llm-memory-s3",
    "postgres": "llm-memory-postgres",
}

#: Where each distribution lives in a checkout of the repository, for "install it with" hints
#: (the plugin distributions are installed from the source tree; they are not on PyPI, where
#: the name ``llm-memory`` belongs to an unrelated project).
SOURCE_DIRS: dict[str, str] = {
    CORE_DISTRIBUTION: "core",
    "llm-memory-chroma": "plugins/chroma",
    "llm-memory-lancedb": "plugins/lancedb",
    "llm-memory-postgres": "plugins/postgres",
    "llm-memory-openai": "plugins/openai_embed",
    "llm-memory-cohere": "plugins/cohere_embed",
    "llm-memory-s3": "plugins/s3_snapshot",
    "llm-memory-testing": "testing",
}


def checkout_root() -> Path | None:
    """The repository checkout the core was installed from, if it can still be found.

    An editable install runs from ``<root>/core/src``; a ``pip install ./core`` records its
    source directory in the distribution's ``direct_url.json`` (PEP 610).
    """
    candidates = [Path(__file__).resolve().parents[3]]
    try:
        raw = metadata.distribution(CORE_DISTRIBUTION).read_text("direct_url.json")
        url = json.loads(raw or "{}").get("url", "")
        if url.startswith("file://"):
            candidates.append(Path(url2pathname(urlparse(url).path)).parent)
    except (metadata.PackageNotFoundError, ValueError, OSError):
        pass
    for root in candidates:
        if (root / "core" / "pyproject.toml").is_file() and (root / "plugins").is_dir():
            return root
    return None


def install_hint(distribution: str, extra: str | None = None) -> str:
    """The command that installs ``distribution`` the way the core itself was installed.

    From a checkout: ``pip install ./plugins/chroma`` (relative to the current directory
    when inside it, else absolute). Otherwise the distribution's name, with where it lives
    in the source tree; nothing claims it is on PyPI.
    """
    where = SOURCE_DIRS.get(distribution)
    root = checkout_root() if where else None
    if where and root is not None and (root / where / "pyproject.toml").is_file():
        path = root / where
        try:
            shown = f"./{path.relative_to(Path.cwd()).as_posix()}"
        except ValueError:
            shown = str(path)
        target = f"{shown}[{extra}]" if extra else shown
        return f"pip install {shlex.quote(target)}"
    if where:
        target = f"{where}[{extra}]" if extra else where
        return (
            f"pip install {shlex.quote(target)} from a checkout of the llm-memory source tree "
            f"(distribution {distribution}, not published on PyPI)"
        )
    return f"pip install {distribution}"


@dataclass(frozen=True)
class LoadError:
    """A plugin distribution that could not be loaded."""

    distribution: str
    version: str
    entry_point: str
    error: str


class PluginManager:
    """The pluggy manager plus what the core needs around it: load errors, provider lookup."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("llm_memory")
        self.pm.add_hookspecs(hookspecs)
        self.load_errors: list[LoadError] = []
        self.distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (dist, version)
        #: Installed distributions that LLM_MEMORY_LOAD_PLUGINS left out.
        self.excluded: set[str] = set()
        self._providers: dict[str, dict[str, Provider]] | None = None
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            self.register(
                module, name=module_name, distribution=(CORE_DISTRIBUTION, core_version())
            )
        if load_entry_points:
            self._load_entry_points()
        self.trace = bool(os.environ.get("LLM_MEMORY_TRACE_PLUGINS"))
        if self.trace:
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()

    def register(
        self, plugin: Any, name: str | None = None, distribution: tuple[str, str] | None = None
    ) -> None:
        """Register a plugin object (a module or an instance with hook implementations)."""
        name = self.pm.register(plugin, name=name)
        self.distributions[name] = distribution or (name, "")
        self.pm.check_pending()
        self._providers = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._providers = None

    def _load_entry_points(self) -> None:
        wanted = os.environ.get("LLM_MEMORY_LOAD_PLUGINS")
        allow = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
        installed: set[str] = set()  # distribution and entry-point names
        dists: set[str] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else ep.name
            version = ep.dist.version if ep.dist else ""
            installed |= {dist, ep.name}
            dists.add(dist)
            if allow is not None and dist not in allow and ep.name not in allow:
                self.excluded.add(dist)
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name, distribution=(dist, version))
            except Exception as exc:  # a broken plugin must not break the others
                if self.pm.get_plugin(ep.name) is not None:
                    self.pm.unregister(name=ep.name)
                self.load_errors.append(
                    LoadError(dist, version, ep.name, f"{type(exc).__name__}: {exc}")
                )
        for name in sorted((allow or set()) - installed):
            self._not_installed(name, installed, dists)

    def _not_installed(self, name: str, installed: set[str], dists: set[str]) -> None:
        close = difflib.get_close_matches(name, sorted(installed), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        message = (
            f"LLM_MEMORY_LOAD_PLUGINS names {name!r}, which is not installed{hint} "
            f"(installed plugins: {', '.join(sorted(dists)) or 'none'})"
        )
        log.warning("llm-memory: %s", message)
        self.load_errors.append(LoadError(name, "", name, message))

    # -- providers ---------------------------------------------------------------------
    def providers(self, kind: str) -> dict[str, Provider]:
        """Every provider of one kind, by name. Duplicate names are an error."""
        if self._providers is None:
            self._providers = self._collect()
        return self._providers[kind]

    def _collect(self) -> dict[str, dict[str, Provider]]:
        collected: dict[str, dict[str, Provider]] = {}
        for kind, spec in KINDS.items():
            found: dict[str, Provider] = {}
            caller = getattr(self.pm.hook, spec)
            for impl in caller.get_hookimpls():  # registration order: the core first
                dist, version = self.distributions.get(impl.plugin_name, (impl.plugin_name, ""))
                result = list(_as_iterable(impl.function()))  # a hook may yield its records
                if self.trace:
                    names = [getattr(p, "name", p) for p in result]
                    sys.stderr.write(
                        f"llm_memory: {spec}() from {impl.plugin_name} ({dist}) -> {names}\n"
                    )
                for provider in result:
                    if not isinstance(provider, Provider):
                        raise ConfigError(
                            f"Plugin {dist} returned {type(provider).__name__} from {spec}; "
                            "expected llm_memory.Provider records."
                        )
                    if provider.name in found:
                        other = found[provider.name].distribution
                        raise ConfigError(
                            f"Conflicting plugins: {KIND_LABELS[kind]} {provider.name!r} is provided "
                            f"by both {other} and {dist}. Uninstall one of them."
                        )
                    found[provider.name] = provider.bound(kind, dist, version)
            collected[kind] = dict(sorted(found.items()))
        return collected

    def get(self, kind: str, name: str) -> Provider:
        """The provider called ``name``, or an error that says how to get it."""
        available = self.providers(kind)
        if name in available:
            return available[name]
        label = KIND_LABELS[kind]
        for err in self.load_errors:
            if err.entry_point == name or KNOWN_PROVIDERS.get(name) == err.distribution:
                raise ProviderLoadError(
                    f"{label.capitalize()} {name!r} comes from {err.distribution} {err.version}, "
                    f"which failed to load: {err.error}"
                )
        installed = ", ".join(available) or "none"
        choose = (
            f"{KIND_SETTINGS[kind]}={next(iter(available))}" if available else KIND_SETTINGS[kind]
        )
        dist = KNOWN_PROVIDERS.get(name)
        wanted = os.environ.get("LLM_MEMORY_LOAD_PLUGINS")
        if dist in self.excluded:
            raise ProviderNotFound(
                f"{label.capitalize()} {name!r} comes from {dist}, which is installed but not "
                f"loaded: LLM_MEMORY_LOAD_PLUGINS={wanted!r} does not name it. Add {dist} to "
                f"LLM_MEMORY_LOAD_PLUGINS (or unset it), or choose a loaded one with {choose}."
            )
        if dist is not None:
            hint = (
                f" Install it with: {install_hint(dist)}; or choose an installed one with {choose}."
            )
        elif self.excluded:
            hint = (
                f" LLM_MEMORY_LOAD_PLUGINS={wanted!r} leaves out installed plugins "
                f"({', '.join(sorted(self.excluded))}); add the one that provides it, "
                f"or set {choose}."
            )
        else:
            hint = f" Run `llm-memory plugins` to see what is installed, or set {choose}."
        raise ProviderNotFound(f"Unknown {label} {name!r}. Installed: {installed}.{hint}")

    def commands(self, cli: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                dist, version = self.distributions.get(impl.plugin_name, (impl.plugin_name, ""))
                self.load_errors.append(
                    LoadError(
                        dist,
                        version,
                        impl.plugin_name,
                        f"register_commands: {type(exc).__name__}: {exc}",
                    )
                )

    def describe(self) -> list[dict[str, Any]]:
        """Every distribution with its providers by kind, then the ones that failed."""
        by_dist: dict[str, dict[str, Any]] = {}
        for dist, version in self.distributions.values():
            by_dist.setdefault(
                dist, {"name": dist, "version": version, "providers": {}, "error": None}
            )
        for kind in KINDS:
            for provider in self.providers(kind).values():
                entry = by_dist[provider.distribution]
                entry["providers"].setdefault(kind, []).append(provider.name)
        for err in self.load_errors:
            entry = by_dist.setdefault(
                err.distribution,
                {"name": err.distribution, "version": err.version, "providers": {}, "error": None},
            )
            entry["error"] = err.error
        return sorted(by_dist.values(), key=lambda d: (d["name"] != CORE_DISTRIBUTION, d["name"]))


def _as_iterable(result: Any) -> Iterable[Any]:
    if result is None:
        return ()
    if isinstance(result, Provider):
        return (result,)
    return result


def core_version() -> str:
    """The installed core distribution's version (``0+unknown`` from a bare source tree)."""
    try:
        return metadata.version(CORE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing a plugin)."""
    global _manager
    _manager = None


def build(kind: str, name: str, settings: Any, manager: PluginManager | None = None) -> Any:
    """Build the provider of ``kind`` called ``name`` with its validated settings."""
    from llm_memory.settings import build_options

    provider = (manager or get_plugin_manager()).get(kind, name)
    try:
        model = provider.options_model()
        options = build_options(model, settings, name) if model is not None else None
        return provider.factory(options, settings)
    except ModuleNotFoundError as exc:
        raise ProviderLoadError(
            f"{KIND_LABELS[kind].capitalize()} {name!r} needs the module {exc.name!r}, which is not "
            f"installed. Install it with: {install_hint(provider.distribution)}"
        ) from exc
