"""An alias of ``llm_memory_testing`` (the ``llm-memory-testing`` distribution), kept so
that ``from llm_memory.testing import StorageContract`` and
``import llm_memory.testing.servers`` go on working. The core ships no test code: install
``llm-memory-testing`` for the kits.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

_TARGET = "llm_memory_testing"
#: Old module paths under ``llm_memory.testing`` whose new home is not the same name.
_MOVED = {"fakes.http": "http", "fakes.openai_chat": "openai_chat"}


def _target() -> ModuleType:
    try:
        return importlib.import_module(_TARGET)
    except ImportError as exc:
        raise ImportError(
            "The llm-memory test kits moved to their own distribution: "
            "pip install llm-memory-testing (import llm_memory_testing)."
        ) from exc


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``llm_memory.testing.X`` to the module ``llm_memory_testing.X`` itself (one
    module object under two names, so classes are not defined twice)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        prefix = __name__ + "."
        if not fullname.startswith(prefix):
            return None
        rest = fullname[len(prefix) :]
        if rest == "fakes":
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        rest = spec.name[len(__name__) + 1 :]
        if rest == "fakes":
            return ModuleType(spec.name, "Old home of the loopback fakes; see llm_memory_testing.")
        _target()
        return importlib.import_module(f"{_TARGET}.{_MOVED.get(rest, rest)}")

    def exec_module(self, module: ModuleType) -> None:
        pass


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())

__path__: list[str] = []  # a package, so that its submodules resolve through the alias


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_target(), name)
