"""Fixtures shared by every test directory: isolation, and real servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from llm_memory_testing.servers import ServerProcess, chroma_server, moto_server

# Settings a developer may have exported must not reach the tests: every core setting's
# variable, and every variable with a provider's prefix.
_PROVIDER_PREFIXES = (
    "CHROMA_", "LANCEDB_", "OPENAI_", "COHERE_", "CO_API_KEY", "S3_", "HASH_", "SCORER_",
    "MEMORY_STORE_", "LLM_MEMORY_",
)  # fmt: skip


def _settings_env() -> set[str]:
    from llm_memory.settings import Settings

    names = {field.upper() for field in Settings.model_fields}
    return names | {name for name in os.environ if name.startswith(_PROVIDER_PREFIXES)}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    """Each test runs in its own empty directory with a private cache and no settings."""
    for name in _settings_env():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.chdir(tmp_path)
    from llm_memory.plugins import reset_plugin_manager

    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[ServerProcess]:
    """A real S3-compatible server (moto) on a free loopback port, for the whole session."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def chroma_http(tmp_path_factory) -> Iterator[ServerProcess]:
    """A real Chroma server (`chroma run`) on a free loopback port, for the whole session."""
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server
