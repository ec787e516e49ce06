"""Plugin loading, provider selection, and the errors a person sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from llm_memory import Provider, hookimpl, plugins
from llm_memory.errors import ConfigError, ProviderLoadError, ProviderNotFound
from llm_memory.plugins import PluginManager, build
from llm_memory.providers import KINDS
from llm_memory.settings import load_settings


def test_builtin_providers_are_registered_like_plugins() -> None:
    pm = PluginManager(load_entry_points=False)
    assert "memory" in pm.providers("storage")
    assert "hash" in pm.providers("embedder")
    assert "weighted" in pm.providers("scorer")
    assert "extractive" in pm.providers("summarizer")
    assert "local" in pm.providers("snapshot")
    assert pm.providers("storage")["memory"].distribution == "llm-memory"


def test_every_hook_kind_has_a_spec_with_a_docstring() -> None:
    from llm_memory import hookspecs

    for spec in [*KINDS.values(), "register_commands"]:
        assert getattr(hookspecs, spec).__doc__.strip(), spec


def test_installed_plugins_register_through_entry_points() -> None:
    pm = PluginManager()
    assert pm.providers("storage")["chroma"].distribution == "llm-memory-chroma"
    assert pm.providers("storage")["lancedb"].distribution == "llm-memory-lancedb"
    assert pm.providers("embedder")["openai"].distribution == "llm-memory-openai"
    assert pm.providers("snapshot")["s3"].distribution == "llm-memory-s3"


class _Extra:
    @hookimpl
    def register_embedders(self):
        return [Provider("constant", lambda options, settings: "built", None, "test")]


def test_a_third_party_provider_is_selectable_by_name() -> None:
    pm = PluginManager(load_entry_points=False)
    pm.register(_Extra(), name="extra", distribution=("llm-memory-extra", "1.0"))
    assert build("embedder", "constant", load_settings(), manager=pm) == "built"
    assert pm.providers("embedder")["constant"].distribution == "llm-memory-extra"


def test_duplicate_names_are_refused_naming_both_distributions() -> None:
    class Clash:
        @hookimpl
        def register_storage_backends(self):
            return [Provider("memory", lambda o, s: None)]

    pm = PluginManager(load_entry_points=False)
    pm.register(Clash(), name="clash", distribution=("llm-memory-clash", "0.1"))
    with pytest.raises(
        ConfigError, match=r"'memory' is provided by both llm-memory and llm-memory-clash"
    ):
        pm.providers("storage")


def test_unknown_provider_lists_installed_and_the_pip_command() -> None:
    pm = PluginManager(load_entry_points=False)
    with pytest.raises(ProviderNotFound) as info:
        pm.get("storage", "lancedb")
    message = str(info.value)
    assert "Unknown storage backend 'lancedb'" in message
    assert "Installed: memory" in message
    assert "Install it with: pip install " in message
    assert "plugins/lancedb" in message  # from a checkout: its directory, not a PyPI name
    assert "STORAGE_BACKEND=memory" in message
    assert "\n" not in message


def test_unknown_third_party_name_points_to_llm_memory_plugins() -> None:
    with pytest.raises(ProviderNotFound, match="llm-memory plugins"):
        PluginManager(load_entry_points=False).get("embedder", "nonesuch")


def test_a_misspelled_hook_implementation_is_caught() -> None:
    class Typo:
        @hookimpl
        def register_embeders(self):  # misspelled on purpose
            return []

    with pytest.raises(Exception, match="register_embeders"):
        PluginManager(load_entry_points=False).register(Typo(), name="typo")


def test_a_provider_whose_sdk_is_missing_names_the_install_command() -> None:
    class NeedsSdk:
        @hookimpl
        def register_storage_backends(self):
            def factory(options, settings):
                import a_vendor_sdk_that_is_not_installed  # noqa: F401

            return [Provider("vendor", factory)]

    pm = PluginManager(load_entry_points=False)
    pm.register(NeedsSdk(), name="vendor", distribution=("llm-memory-vendor", "0.1"))
    with pytest.raises(ProviderLoadError, match="pip install llm-memory-vendor"):
        build("storage", "vendor", load_settings(), manager=pm)


def test_install_hint_from_a_checkout_names_the_plugin_directory(monkeypatch, tmp_path) -> None:
    root = plugins.checkout_root()
    assert root is not None and (root / "plugins" / "chroma" / "pyproject.toml").is_file()
    monkeypatch.chdir(root)
    assert plugins.install_hint("llm-memory-chroma") == "pip install ./plugins/chroma"
    assert plugins.install_hint("llm-memory", "openai") == "pip install './core[openai]'"
    monkeypatch.chdir(tmp_path)  # outside the checkout: an absolute path that still works
    assert plugins.install_hint("llm-memory-s3") == f"pip install {root / 'plugins/s3_snapshot'}"


def test_install_hint_without_a_checkout_does_not_claim_pypi(monkeypatch) -> None:
    monkeypatch.setattr(plugins, "checkout_root", lambda: None)
    hint = plugins.install_hint("llm-memory-chroma")
    assert "llm-memory-chroma" in hint and "plugins/chroma" in hint
    assert "not published on PyPI" in hint


def test_a_plugin_left_out_by_load_plugins_is_named_not_reinstalled(monkeypatch) -> None:
    monkeypatch.setenv("LLM_MEMORY_LOAD_PLUGINS", "llm-memory-cohere")
    pm = PluginManager()
    assert "llm-memory-chroma" in pm.excluded
    with pytest.raises(ProviderNotFound) as info:
        pm.get("storage", "chroma")
    message = str(info.value)
    assert "installed but not loaded" in message
    assert "LLM_MEMORY_LOAD_PLUGINS='llm-memory-cohere' does not name it" in message
    assert "pip install" not in message


def test_provider_settings_are_validated_with_the_variable_named(monkeypatch) -> None:
    monkeypatch.setenv("HASH_DIMENSION", "3")
    with pytest.raises(ConfigError, match=r"HASH_DIMENSION"):
        build("embedder", "hash", load_settings())


def test_provider_settings_come_from_the_toml_table(tmp_path) -> None:
    (tmp_path / "llm-memory.toml").write_text("[hash]\ndimension = 64\n")
    assert build("embedder", "hash", load_settings()).dimension == 64


def _broken_plugin(tmp_path: Path) -> Path:
    """A real installed distribution whose entry point fails to import."""
    site = tmp_path / "site"
    (site / "broken_plugin").mkdir(parents=True)
    (site / "broken_plugin" / "__init__.py").write_text("import a_module_that_does_not_exist\n")
    dist = site / "llm_memory_broken-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: llm-memory-broken\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[llm_memory]\nbroken = broken_plugin\n")
    return site


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, "STORAGE_BACKEND": "memory", **env}
    return subprocess.run(
        [sys.executable, "-m", "llm_memory.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        timeout=120,
    )


def test_a_broken_plugin_is_reported_and_breaks_nothing_else(tmp_path) -> None:
    site = _broken_plugin(tmp_path)
    env = {"PYTHONPATH": str(site)}
    listed = _run(["plugins"], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert "llm-memory-broken 0.3" in listed.stdout
    assert "failed to load: ModuleNotFoundError" in listed.stdout
    added = _run(["add", "still works", "--user", "u1"], tmp_path, **env)
    assert added.returncode == 0, added.stderr
    selected = _run(["list", "--user", "u1"], tmp_path, STORAGE_BACKEND="broken", **env)
    assert selected.returncode == 1
    assert selected.stderr.strip() == (
        "Error: Storage backend 'broken' comes from llm-memory-broken 0.3, which failed to load: "
        "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"
    )


def test_load_plugins_variable_limits_entry_points(monkeypatch) -> None:
    monkeypatch.setenv("LLM_MEMORY_LOAD_PLUGINS", "llm-memory-chroma")
    pm = PluginManager()
    assert "chroma" in pm.providers("storage")
    assert "lancedb" not in pm.providers("storage")
    monkeypatch.setenv("LLM_MEMORY_LOAD_PLUGINS", "")
    assert set(PluginManager().providers("storage")) == {"memory"}


def test_trace_variable_prints_hook_calls(tmp_path) -> None:
    result = _run(["plugins"], tmp_path, LLM_MEMORY_TRACE_PLUGINS="1")
    assert result.returncode == 0
    assert "register_storage_backends" in result.stderr


def test_one_table_of_hook_kinds_names_spec_label_setting_and_base() -> None:
    import importlib

    from llm_memory import hookspecs
    from llm_memory.providers import HOOK_KINDS, KIND_LABELS, KIND_SETTINGS
    from llm_memory.settings import Settings

    for name, kind in HOOK_KINDS.items():
        assert kind.name == name and KINDS[name] == kind.spec and KIND_LABELS[name] == kind.label
        assert hasattr(hookspecs, kind.spec)
        assert kind.setting == KIND_SETTINGS[name] and kind.setting.lower() in Settings.model_fields
        module, _, attr = kind.base.partition(":")
        assert isinstance(getattr(importlib.import_module(module), attr), type)


def test_load_plugins_naming_a_missing_plugin_says_so(monkeypatch, caplog) -> None:
    from llm_memory.plugins import PluginManager

    monkeypatch.setenv("LLM_MEMORY_LOAD_PLUGINS", "llm-memory-chroma,llm-memory-lancdb")
    with caplog.at_level("WARNING", logger="llm_memory.plugins"):
        pm = PluginManager()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(
        "llm-memory: LLM_MEMORY_LOAD_PLUGINS names 'llm-memory-lancdb', which is not installed; "
        "did you mean llm-memory-lancedb?"
    )
    assert "chroma" in pm.providers("storage")
    assert [e.distribution for e in pm.load_errors] == ["llm-memory-lancdb"]
