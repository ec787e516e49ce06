"""The README tells the truth: its plugin example passes the contract kit, and every
setting, hook and command is documented."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import click
import pytest
from llm_memory_testing import StorageContract

README = (Path(__file__).parents[1] / "README.md").read_text()


def _block(marker: str) -> str:
    for block in re.findall(r"```python\n(.*?)```", README, flags=re.S):
        if block.startswith(marker):
            return block
    raise AssertionError(f"README has no python block starting with {marker!r}")


def _readme_plugin() -> types.ModuleType:
    module = types.ModuleType("llm_memory_dictstore")
    exec(compile(_block("# llm_memory_dictstore.py"), "README.md", "exec"), module.__dict__)
    sys.modules.setdefault("llm_memory_dictstore", module)
    return module


class TestReadmePluginPassesTheStorageContract(StorageContract):
    @pytest.fixture
    def store(self):
        yield _readme_plugin().DictStore()


def test_readme_plugin_registers_a_selectable_backend() -> None:
    from llm_memory.plugins import PluginManager, build
    from llm_memory.settings import load_settings

    pm = PluginManager(load_entry_points=False)
    pm.register(_readme_plugin(), name="dictstore", distribution=("llm-memory-dictstore", "0.1.0"))
    store = build("storage", "dict", load_settings(), manager=pm)
    assert type(store).__name__ == "DictStore"


def test_every_core_setting_is_documented() -> None:
    from llm_memory.settings import Settings

    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in README]
    assert missing == []


def test_every_hook_is_documented() -> None:
    from llm_memory import hookspecs

    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert [h for h in hooks if h not in README] == []


def test_every_cli_command_is_documented() -> None:
    from llm_memory.cli import cli

    ctx = click.Context(cli)
    names = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            names += [f"{name} {sub}" for sub in command.list_commands(ctx)]
        else:
            names.append(name)
    undocumented = [
        n
        for n in names
        if f"llm-memory {n.split()[0]}" not in README or n.split()[-1] not in README
    ]
    assert undocumented == []


def _readme_block(lang: str, marker: str) -> str:
    for block in re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S):
        if block.startswith(marker):
            return block
    raise AssertionError(f"README has no {lang} block starting with {marker!r}")


def test_readme_plugin_layout_installs_editable_with_its_test_beside_it(tmp_path) -> None:
    """`pip install -e .` in the README's plugin directory: setuptools builds the editable
    wheel (flat-layout discovery would refuse the module and the test file side by side)."""
    import subprocess
    import zipfile

    plugin = tmp_path / "llm-memory-dictstore"
    plugin.mkdir()
    (plugin / "pyproject.toml").write_text(_readme_block("toml", "# pyproject.toml of the plugin"))
    (plugin / "llm_memory_dictstore.py").write_text(_block("# llm_memory_dictstore.py"))
    (plugin / "test_dictstore.py").write_text(_block("# test_dictstore.py"))
    (tmp_path / "dist").mkdir()
    built = []
    for hook in ("build_editable", "build_wheel"):  # one process each, as pip runs them
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; from setuptools import build_meta; "
                f"print('BUILT', build_meta.{hook}(sys.argv[1]))",
                str(tmp_path / "dist"),
            ],
            cwd=plugin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        built.append(done.stdout.rpartition("BUILT ")[2].strip())
    editable, wheel = built
    for name in (editable, wheel):
        with zipfile.ZipFile(tmp_path / "dist" / name) as whl:
            entry_points = next(n for n in whl.namelist() if n.endswith("entry_points.txt"))
            assert "dictstore = llm_memory_dictstore" in whl.read(entry_points).decode()
    with zipfile.ZipFile(tmp_path / "dist" / wheel) as whl:
        modules = [n for n in whl.namelist() if n.endswith(".py")]
    assert modules == ["llm_memory_dictstore.py"]  # the test file is not packaged
