"""The built core wheel: the engine only, with no vendor wire format and no tests (issue 12)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What a vendor fake server looks like inside: a handler base, the fakes' names, the
#: vendors' embedding endpoints as a server would route them.
WIRE = re.compile(rb"BaseHTTPRequestHandler|class Fake\w+|FakeServer|/v1/embeddings|/v2/embed\b")


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    if not found:
        pytest.skip("uv is not installed: the wheel is built with `uv build`")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [_uv(), "build", "--wheel", "--quiet", str(ROOT / "core"), "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("llm_memory-*.whl")
    return zipfile.ZipFile(built)


def test_the_core_wheel_holds_no_tests(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "llm_memory/manager.py" in names  # it is the engine's wheel
    tests = [
        n for n in names if re.search(r"(^|/)(tests?|fakes)/|(^|/)(test_\w+|conftest)\.py$", n)
    ]
    assert tests == []
    # llm_memory.testing is only the alias of the llm-memory-testing distribution
    assert [n for n in names if n.startswith("llm_memory/testing/")] == [
        "llm_memory/testing/__init__.py"
    ]


def test_the_core_wheel_holds_no_vendor_wire_format(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert [n for n in names if re.search(r"openai|cohere", n.lower())] == []
    carrying = [n for n in names if n.endswith(".py") and WIRE.search(wheel.read(n))]
    assert carrying == []
