"""The openai embedder through the real ``openai`` client, against OpenAI's wire format on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llm_memory.embedding.cache import CachedEmbedder, wrap_if_enabled
from llm_memory.errors import ConfigError, EmbeddingError
from llm_memory.plugins import build
from llm_memory.settings import load_settings
from llm_memory_openai.embedder import OpenAIEmbedder, estimate_tokens
from llm_memory_openai.options import OpenAIOptions
from llm_memory_testing import EmbedderContract
from llm_memory_testing.http import count_tokens, vectors
from llm_memory_testing.servers import HangUpServer, free_port
from openai_wire import FakeOpenAI

KEY = "sk-test-key"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, models={"nomic-embed-text": (768, None)}) as fake:
        yield fake


def make(server: FakeOpenAI, **options: Any) -> OpenAIEmbedder:
    settings = {"api_key": KEY, "base_url": server.base_url, "retry_backoff": 0.001, **options}
    return OpenAIEmbedder.from_options(
        OpenAIOptions(**settings), options.pop("embedding_model", None)
    )


def expected(texts: list[str], dimension: int) -> list[list[float]]:
    return np.asarray(vectors(texts, dimension), dtype="<f4").tolist()


class TestOpenAIEmbedderContract(EmbedderContract):
    semantic = True  # the fake server's vectors share features for shared words

    @pytest.fixture
    def embedder(self, server: FakeOpenAI) -> OpenAIEmbedder:
        return make(server)


def test_request_and_response_in_openai_wire_format(server: FakeOpenAI) -> None:
    embedder = make(server)
    texts = ["The cat sat on the mat.", "Steuererklärung bis 31. Juli", "🐕 dog"]
    result = embedder.embed_documents(texts)

    (request,) = server.received()
    assert (request.method, request.path) == ("POST", "/v1/embeddings")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": texts,
        "encoding_format": "base64",
    }
    assert result == expected(texts, 1536)  # decoded from base64 little-endian float32
    tokens = sum(count_tokens(t) for t in texts)
    assert embedder.usage.as_dict() == {
        "requests": 1,
        "texts": 3,
        "tokens": tokens,
        "cache_hits": 0,
        "cache_misses": 0,
    }


def test_servers_that_answer_json_floats_work_too(server: FakeOpenAI) -> None:
    with FakeOpenAI(floats_only=True) as floats:
        embedder = OpenAIEmbedder(base_url=floats.base_url)  # no key: a local server
        assert embedder.embed_documents(["plain floats"]) == expected(["plain floats"], 1536)
        assert floats.received()[0].headers["authorization"].startswith("Bearer ")


def test_dimensions_are_sent_and_known_without_a_request(server: FakeOpenAI) -> None:
    embedder = make(server, dimensions=256)
    assert embedder.dimension == 256 and server.received() == []
    assert make(server, model="text-embedding-3-large").dimension == 3072
    assert server.received() == []
    vector = embedder.embed_query("short vectors")
    assert len(vector) == 256
    assert server.received()[0].body["dimensions"] == 256


def test_an_unknown_model_is_probed_once(server: FakeOpenAI) -> None:
    embedder = make(server, model="nomic-embed-text")
    assert embedder.dimension == 768
    assert embedder.dimension == 768
    assert [r.body["model"] for r in server.received()] == ["nomic-embed-text"]
    assert embedder.usage.requests == 1


def test_a_wrong_dimension_from_the_server_is_an_error(server: FakeOpenAI) -> None:
    embedder = make(server, model="nomic-embed-text", dimensions=256)  # the server ignores it
    assert embedder.dimension == 256
    with pytest.raises(EmbeddingError, match=r"768-dimensional vectors .* expected 256"):
        embedder.embed_documents(["x"])
    assert server.received()[0].body["dimensions"] == 256


def test_settings_that_cannot_work_are_config_errors(server: FakeOpenAI) -> None:
    with pytest.raises(ConfigError, match="OPENAI_DIMENSIONS"):
        make(server, model="text-embedding-ada-002", dimensions=512)
    with pytest.raises(ConfigError, match="OPENAI_DIMENSIONS=4000"):
        make(server, dimensions=4000)


def test_batches_hold_at_most_2048_inputs(server: FakeOpenAI) -> None:
    embedder = make(server, dimensions=16)
    texts = [f"t{i}" for i in range(2049)]
    result = embedder.embed_documents(texts)
    assert [len(batch) for batch in server.inputs()] == [2048, 1]
    assert [t for batch in server.inputs() for t in batch] == texts
    assert result[2048] == expected(["t2048"], 16)[0] and result[7] == expected(["t7"], 16)[0]
    assert embedder.usage.requests == 2 and embedder.usage.texts == 2049


def test_batches_stay_within_the_token_budget(server: FakeOpenAI) -> None:
    embedder = make(server, dimensions=16, max_batch_tokens=60)
    texts = [("word " * n).strip() for n in (10, 30, 5, 40, 1, 80, 2)]
    result = embedder.embed_documents(texts)
    batches = server.inputs()
    assert [t for batch in batches for t in batch] == texts
    assert len(batches) > 1
    for batch in batches:  # a single text over the budget goes alone
        assert len(batch) == 1 or sum(estimate_tokens(t) for t in batch) <= 60
    assert result == expected(texts, 16)


def test_429_is_retried_after_the_retry_after_delay(server: FakeOpenAI) -> None:
    embedder = make(server)
    server.fail(429, retry_after="1")
    assert embedder.embed_documents(["hello"]) == expected(["hello"], 1536)
    first, second = server.received()
    assert first.body == second.body
    assert second.at - first.at >= 0.95  # honoured Retry-After, though backoff is 1 ms
    assert embedder.usage.requests == 1


def test_5xx_is_retried_with_backoff_until_it_succeeds(server: FakeOpenAI) -> None:
    embedder = make(server, max_retries=3)
    server.fail(500, times=2)
    server.fail(503, after=2)
    assert embedder.embed_documents(["x", "y"]) == expected(["x", "y"], 1536)
    assert len(server.received()) == 4


def test_retries_give_up_with_one_line(server: FakeOpenAI) -> None:
    embedder = make(server, max_retries=2)
    server.fail(500, times=10)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed_documents(["x"])
    message = str(info.value)
    assert "failed after 3 attempts" in message and "OPENAI_MAX_RETRIES" in message
    assert "HTTP 500" in message and "\n" not in message
    assert len(server.received()) == 3


def test_a_retry_after_longer_than_allowed_fails_at_once(server: FakeOpenAI) -> None:
    embedder = make(server, max_retry_wait=5)
    server.fail(429, retry_after="120")
    with pytest.raises(EmbeddingError, match=r"wait 120 s.*OPENAI_MAX_RETRY_WAIT=5"):
        embedder.embed_documents(["x"])
    assert len(server.received()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_names_the_variable_and_is_not_retried(
    server: FakeOpenAI, status: int
) -> None:
    embedder = make(server, api_key="sk-wrong") if status == 401 else make(server)
    if status == 403:
        server.fail(403)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed_documents(["x"])
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and f"HTTP {status}" in message and "\n" not in message
    assert len(server.received()) == 1


def test_an_unknown_model_names_the_setting(server: FakeOpenAI) -> None:
    with pytest.raises(EmbeddingError, match="EMBEDDING_MODEL"):
        make(server, model="no-such-model").embed_documents(["x"])


def test_a_failed_batch_fails_the_whole_call(server: FakeOpenAI) -> None:
    embedder = make(server, max_batch_size=2)
    server.fail(400, after=1, message="'$.input' is invalid.")
    with pytest.raises(EmbeddingError, match="refused the embedding request"):
        embedder.embed_documents(["a", "b", "c", "d"])
    assert len(server.received()) == 2
    with pytest.raises(EmbeddingError, match="non-empty"):
        embedder.embed_documents(["fine", ""])
    assert len(server.received()) == 2


def test_a_dropped_connection_is_retried_and_names_the_base_url() -> None:
    with HangUpServer() as server:
        embedder = OpenAIEmbedder.from_options(
            OpenAIOptions(base_url=f"{server.url}/v1", max_retries=1, retry_backoff=0.001)
        )
        with pytest.raises(EmbeddingError, match=r"failed after 2 attempts.*OPENAI_BASE_URL"):
            embedder.embed_documents(["x"])
    assert server.connections == 2


def test_a_refused_connection_fails_at_once_naming_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the connection is refused
    embedder = OpenAIEmbedder.from_options(OpenAIOptions(base_url=url))  # 5 retries allowed
    calls = []
    create = embedder.client.embeddings.create

    def counted(**params: Any) -> Any:
        calls.append(params)
        return create(**params)

    monkeypatch.setattr(embedder.client.embeddings, "create", counted)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed_documents(["x"])
    message = str(info.value)
    assert len(calls) == 1  # not retried
    assert "OPENAI_BASE_URL" in message and url in message and "connection refused" in message
    assert "\n" not in message and "Try again later" not in message


def test_the_cache_saves_the_second_request(server: FakeOpenAI, tmp_path: Path) -> None:
    embedder = CachedEmbedder(make(server), tmp_path / "cache.sqlite3")
    first = embedder.embed_documents(["remember me", "and me"])
    assert embedder.embed_documents(["and me", "remember me"]) == first[::-1]
    assert embedder.embed_query("remember me") == first[0]  # openai embeds queries as documents
    assert len(server.received()) == 1
    fresh = CachedEmbedder(make(server), tmp_path / "cache.sqlite3")
    assert fresh.embed_documents(["and me", "new text"])[0] == first[1]
    assert server.inputs()[-1] == ["new text"]
    assert (
        fresh.usage.cache_hits == 1 and fresh.usage.cache_misses == 1 and fresh.usage.requests == 1
    )


def test_built_from_settings_and_cached_by_default(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "text-embedding-3-large")
    monkeypatch.setenv("EMBEDDING_MODEL", "text-embedding-3-small")  # wins over OPENAI_MODEL
    monkeypatch.setenv("OPENAI_DIMENSIONS", "64")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")  # the client's own name for it works too
    settings = load_settings(embedding_provider="openai")
    embedder = wrap_if_enabled(build("embedder", "openai", settings), settings)
    assert isinstance(embedder, CachedEmbedder) and embedder.remote
    assert embedder.info().model == "text-embedding-3-small" and embedder.dimension == 64
    embedder.embed_documents(["from settings"])
    embedder.embed_documents(["from settings"])
    (request,) = server.received()
    assert request.body["model"] == "text-embedding-3-small" and request.body["dimensions"] == 64
    assert request.headers["openai-organization"] == "org-123"


def test_toml_table_configures_the_provider(server: FakeOpenAI, tmp_path: Path) -> None:
    config = tmp_path / "llm-memory.toml"
    config.write_text(
        f'embedding_provider = "openai"\n[openai]\nbase_url = "{server.base_url}"\n'
        f'api_key = "{KEY}"\nmodel = "nomic-embed-text"\n'
    )
    embedder = build("embedder", "openai", load_settings(config))
    assert embedder.model == "nomic-embed-text" and embedder.dimension == 768


def test_a_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        build("embedder", "openai", load_settings())
    assert "OPENAI_API_KEY" in str(info.value) and "\n" not in str(info.value)


def test_the_hook_module_does_not_import_the_sdk() -> None:
    code = "import sys, llm_memory_openai; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
