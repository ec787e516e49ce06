"""Fixtures shared by every test directory: isolation, and real servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from llm_memory.testing.servers import ServerProcess, chroma_server, moto_server

# Settings a developer may have exported; tests must not see them.
_SETTINGS_ENV = (
    "STORAGE_BACKEND",
    "EMBEDDING_PROVIDER",
    "EMBEDDING_MODEL",
    "VECTOR_STORE_DIR",
    "AGENT_MODEL",
    "AGENT_TEMPERATURE",
    "AGENT_BASE_URL",
    "AGENT_API_KEY",
    "MAX_ACTIVE_MEMORIES",
    "RETENTION_DAYS",
    "API_PORT",
    "S3_BUCKET",
    "SNAPSHOT_INTERVAL",
    "SCORER",
    "RERANKER",
    "SUMMARIZER",
    "SNAPSHOT_STORE",
    "SNAPSHOT_DIR",
    "COLLECTION",
    "LLM_MEMORY_CONFIG",
    "LLM_MEMORY_LOAD_PLUGINS",
    "LLM_MEMORY_TRACE_PLUGINS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "COHERE_API_KEY",
    "CO_API_KEY",
    "EMBEDDING_CACHE",
    "EMBEDDING_CACHE_PATH",
    "HYBRID_SEARCH",
    "RETRIEVAL_CANDIDATES",
    "API_KEYS",
    "API_RATE_LIMIT",
    "API_RATE_BURST",
    "API_HOST",
    "SUMMARIZE_AFTER_TURNS",
    "SNAPSHOT_KEEP",
    "HASH_DIMENSION",
    "MEMORY_STORE_PATH",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    """Each test runs in its own empty directory with a private cache and no settings."""
    for name in _SETTINGS_ENV:
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
