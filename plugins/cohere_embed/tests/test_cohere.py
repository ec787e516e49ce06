"""The cohere embedder and reranker through ``cohere.ClientV2``, against Cohere's v2 wire format."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cohere_wire import FakeCohere
from llm_memory.embedding.cache import CachedEmbedder, wrap_if_enabled
from llm_memory.errors import ConfigError, EmbeddingError, RerankError
from llm_memory.models import Candidate, MemoryItem
from llm_memory.plugins import build
from llm_memory.settings import load_settings
from llm_memory_cohere.embedder import CohereEmbedder
from llm_memory_cohere.options import CohereOptions
from llm_memory_cohere.rerank import CohereReranker
from llm_memory_testing import EmbedderContract
from llm_memory_testing.http import count_tokens, vectors
from llm_memory_testing.servers import HangUpServer, free_port

KEY = "co-test-key"


@pytest.fixture
def server() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=KEY, models={"embed-custom": (320, ())}) as fake:
        yield fake


def options(server: FakeCohere, **extra: Any) -> CohereOptions:
    return CohereOptions(
        **{"api_key": KEY, "base_url": server.url, "retry_backoff": 0.001, **extra}
    )


def make(server: FakeCohere, **extra: Any) -> CohereEmbedder:
    return CohereEmbedder.from_options(options(server, **extra))


def expected(texts: list[str], dimension: int) -> list[list[float]]:
    return np.asarray(vectors(texts, dimension), dtype=float).tolist()


def candidates(*contents: str) -> list[Candidate]:
    return [
        Candidate(memory=MemoryItem(user_id="u1", content=c), relevance=0.5, sources={"dense": i})
        for i, c in enumerate(contents)
    ]


class TestCohereEmbedderContract(EmbedderContract):
    semantic = True  # the fake server's vectors share features for shared words
    symmetric = False  # Cohere embeds queries (search_query) unlike documents

    @pytest.fixture
    def embedder(self, server: FakeCohere) -> CohereEmbedder:
        return make(server)


# -- embeddings ---------------------------------------------------------------------------


def test_documents_and_queries_in_cohere_wire_format(server: FakeCohere) -> None:
    embedder = make(server)
    docs = ["The cat sat on the mat.", "Ein Hund läuft im Park 🐕"]
    assert embedder.embed_documents(docs) == expected(docs, 1536)
    assert embedder.embed_query("where is the cat?") == expected(["where is the cat?"], 1536)[0]

    first, second = server.received()
    assert (first.method, first.path) == ("POST", "/v2/embed")
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body == {
        "model": "embed-v4.0",
        "input_type": "search_document",
        "texts": docs,
        "embedding_types": ["float"],
    }
    assert second.body["input_type"] == "search_query" and second.body["texts"] == [
        "where is the cat?"
    ]
    tokens = sum(
        count_tokens(t) for t in [*docs, "where is the cat?"]
    )  # meta.billed_units.input_tokens
    assert embedder.usage.as_dict() == {
        "requests": 2,
        "texts": 3,
        "tokens": tokens,
        "cache_hits": 0,
        "cache_misses": 0,
    }


def test_output_dimension_is_sent_and_known_without_a_request(server: FakeCohere) -> None:
    embedder = make(server, output_dimension=512)
    assert embedder.dimension == 512 and server.received() == []
    assert make(server, model="embed-english-light-v3.0").dimension == 384
    assert len(embedder.embed_documents(["short"])[0]) == 512
    assert server.received()[0].body["output_dimension"] == 512


def test_an_unknown_model_is_probed_once(server: FakeCohere) -> None:
    embedder = make(server, model="embed-custom")
    assert embedder.dimension == 320 and embedder.dimension == 320
    assert [r.body["model"] for r in server.received()] == ["embed-custom"]


def test_output_dimension_the_model_cannot_make_is_a_config_error(server: FakeCohere) -> None:
    with pytest.raises(ConfigError, match="unset COHERE_OUTPUT_DIMENSION"):
        make(server, model="embed-english-v3.0", output_dimension=256)
    with pytest.raises(ConfigError, match="256, 512, 1024, 1536"):
        make(server, output_dimension=300)


def test_batches_hold_at_most_96_texts(server: FakeCohere) -> None:
    embedder = make(server, output_dimension=256)
    texts = [f"text {i}" for i in range(97)]
    result = embedder.embed_queries(texts)
    bodies = server.embed_requests()
    assert [len(b["texts"]) for b in bodies] == [96, 1]
    assert {b["input_type"] for b in bodies} == {"search_query"}
    assert [t for b in bodies for t in b["texts"]] == texts
    assert result == expected(texts, 256)


def test_429_is_retried_after_the_retry_after_delay(server: FakeCohere) -> None:
    embedder = make(server)
    server.fail(429, retry_after="1")
    assert embedder.embed_documents(["hello"]) == expected(["hello"], 1536)
    first, second = server.received()
    assert first.body == second.body and second.at - first.at >= 0.95


def test_5xx_is_retried_then_given_up_in_one_line(server: FakeCohere) -> None:
    embedder = make(server, max_retries=2)
    server.fail(500, times=2)
    assert embedder.embed_documents(["x"]) == expected(["x"], 1536)
    assert len(server.received()) == 3
    server.reset()
    server.fail(503, times=5)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed_documents(["x"])
    message = str(info.value)
    assert (
        "failed after 3 attempts" in message
        and "COHERE_MAX_RETRIES" in message
        and "\n" not in message
    )
    assert len(server.received()) == 3


def test_a_rejected_key_names_the_variable_and_is_not_retried(server: FakeCohere) -> None:
    with pytest.raises(EmbeddingError) as info:
        make(server, api_key="wrong").embed_documents(["x"])
    message = str(info.value)
    assert (
        "COHERE_API_KEY" in message
        and "HTTP 401: invalid api token" in message
        and "\n" not in message
    )
    assert len(server.received()) == 1


def test_a_dropped_connection_is_retried_and_names_the_base_url() -> None:
    with HangUpServer() as server:
        embedder = CohereEmbedder.from_options(
            CohereOptions(base_url=server.url, max_retries=1, retry_backoff=0.001)
        )
        with pytest.raises(EmbeddingError, match=r"failed after 2 attempts.*COHERE_BASE_URL"):
            embedder.embed_documents(["x"])
    assert server.connections == 2


def test_a_refused_connection_fails_at_once_naming_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the connection is refused
    embedder = CohereEmbedder.from_options(CohereOptions(base_url=url))  # 5 retries allowed
    reranker = CohereReranker.from_options(CohereOptions(base_url=url))
    calls: list[str] = []
    for client, method in ((embedder.api.client, "embed"), (reranker.api.client, "rerank")):
        original = getattr(client, method)

        def counted(*args: Any, _original: Any = original, _method: str = method, **kw: Any) -> Any:
            calls.append(_method)
            return _original(*args, **kw)

        monkeypatch.setattr(client, method, counted)
    with pytest.raises(EmbeddingError) as embedding:
        embedder.embed_documents(["x"])
    with pytest.raises(RerankError) as reranking:
        reranker.rerank("cat", candidates("cat"))
    assert calls == ["embed", "rerank"]  # neither retried
    for info in (embedding, reranking):
        message = str(info.value)
        assert "COHERE_BASE_URL" in message and url in message and "connection refused" in message
        assert "\n" not in message and "Try again later" not in message


def test_an_unknown_model_names_the_setting(server: FakeCohere) -> None:
    with pytest.raises(EmbeddingError, match="EMBEDDING_MODEL"):
        make(server, model="embed-nonexistent").embed_documents(["x"])


def test_a_failed_batch_fails_the_whole_call(server: FakeCohere) -> None:
    embedder = make(server, max_batch_size=2)
    server.fail(400, after=1, message="invalid request: text too long")
    with pytest.raises(EmbeddingError, match="HTTP 400: invalid request: text too long"):
        embedder.embed_documents(["a", "b", "c"])
    assert len(server.received()) == 2


def test_the_cache_keeps_documents_and_queries_apart(server: FakeCohere, tmp_path: Path) -> None:
    embedder = CachedEmbedder(make(server), tmp_path / "cache.sqlite3")
    doc = embedder.embed_documents(["the same words"])
    query = embedder.embed_queries(["the same words"])
    assert [b["input_type"] for b in server.embed_requests()] == ["search_document", "search_query"]
    assert embedder.embed_documents(["the same words"]) == doc
    assert embedder.embed_queries(["the same words"]) == query
    assert len(server.received()) == 2
    assert embedder.usage.cache_hits == 2 and embedder.usage.requests == 2


def test_built_from_settings_with_co_api_key_and_cached_by_default(
    server: FakeCohere, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CO_API_KEY", KEY)
    monkeypatch.setenv("COHERE_BASE_URL", server.url)
    monkeypatch.setenv("EMBEDDING_MODEL", "embed-english-v3.0")
    settings = load_settings(embedding_provider="cohere")
    embedder = wrap_if_enabled(build("embedder", "cohere", settings), settings)
    assert isinstance(embedder, CachedEmbedder)
    assert (embedder.name, embedder.model, embedder.dimension) == (
        "cohere",
        "embed-english-v3.0",
        1024,
    )
    embedder.embed_documents(["configured"])
    embedder.embed_documents(["configured"])
    assert [b["model"] for b in server.embed_requests()] == ["embed-english-v3.0"]


def test_a_missing_key_names_the_variable() -> None:
    for kind in ("embedder", "reranker"):
        with pytest.raises(ConfigError, match="COHERE_API_KEY"):
            build(kind, "cohere", load_settings())


# -- reranking ----------------------------------------------------------------------------


def test_rerank_orders_candidates_by_cohere_relevance(
    server: FakeCohere, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    monkeypatch.setenv("COHERE_BASE_URL", server.url)
    monkeypatch.setenv("COHERE_RERANK_MODEL", "rerank-v4.0-pro")
    reranker = build("reranker", "cohere", load_settings(reranker="cohere"))
    given = candidates("the stock market fell", "cats are wonderful pets", "my cat likes fish")
    result = reranker.rerank("cat pets", given)

    (request,) = server.received()
    assert request.path == "/v2/rerank"
    assert request.body == {
        "model": "rerank-v4.0-pro",
        "query": "cat pets",
        "documents": ["the stock market fell", "cats are wonderful pets", "my cat likes fish"],
    }
    assert [c.memory.content for c in result] == [
        "cats are wonderful pets",
        "my cat likes fish",
        "the stock market fell",
    ]
    assert [c.sources for c in result] == [{"dense": 1}, {"dense": 2}, {"dense": 0}]
    assert all(0.0 <= c.relevance <= 1.0 for c in result)
    assert result[0].relevance > result[1].relevance > result[2].relevance == 0.0
    assert reranker.requests == 1 and reranker.search_units == 1


def test_rerank_batches_large_candidate_sets(server: FakeCohere) -> None:
    reranker = CohereReranker.from_options(options(server, rerank_batch_size=2))
    given = candidates("dogs bark", "cat naps", "cat and dog", "taxes", "a cat")
    result = reranker.rerank("cat", given)
    assert [len(r.body["documents"]) for r in server.received()] == [2, 2, 1]
    assert {c.memory.content for c in result} == {c.memory.content for c in given}
    assert [c.relevance for c in result] == sorted((c.relevance for c in result), reverse=True)
    assert result[-1].relevance == 0.0 and result[0].memory.content in {"cat naps", "a cat"}


def test_rerank_with_nothing_to_do_makes_no_request(server: FakeCohere) -> None:
    reranker = CohereReranker.from_options(options(server))
    assert reranker.rerank("query", []) == []
    assert [c.relevance for c in reranker.rerank("  ", candidates("a", "b"))] == [0.5, 0.5]
    assert server.received() == []


def test_rerank_errors_are_one_line_rerank_errors(server: FakeCohere) -> None:
    reranker = CohereReranker.from_options(options(server, max_retries=1))
    server.fail(429, times=1)
    assert len(reranker.rerank("cat", candidates("cat", "dog"))) == 2
    assert len(server.received()) == 2
    with pytest.raises(RerankError) as info:
        CohereReranker.from_options(options(server, api_key="wrong")).rerank(
            "cat", candidates("cat")
        )
    assert "COHERE_API_KEY" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RerankError, match="COHERE_RERANK_MODEL"):
        CohereReranker.from_options(options(server, rerank_model="rerank-nope")).rerank(
            "cat", candidates("cat")
        )


def test_the_hook_module_does_not_import_the_sdk() -> None:
    code = "import sys, llm_memory_cohere; print('cohere' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_engine_embeds_documents_and_queries_apart_and_reranks(
    server: FakeCohere, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_memory import MemoryManager

    monkeypatch.setenv("COHERE_API_KEY", KEY)
    monkeypatch.setenv("COHERE_BASE_URL", server.url)
    memory = MemoryManager.from_settings(
        storage_backend="memory", embedding_provider="cohere", reranker="cohere"
    )
    memory.write_memory("I prefer window seats on flights", user_id="alice")
    memory.write_memory("My cat is called Miso", user_id="alice")
    for _ in range(2):  # the second time, the query's vector comes from the cache
        found = memory.retrieve("which seat do I like on flights", user_id="alice")
        assert found[0].memory.content == "I prefer window seats on flights"
    calls = [(r.path, r.body.get("input_type")) for r in server.received()]
    assert calls == [
        ("/v2/embed", "search_document"),
        ("/v2/embed", "search_document"),
        ("/v2/embed", "search_query"),
        ("/v2/rerank", None),
        ("/v2/rerank", None),
    ]
    assert memory.embedder.usage.cache_hits == 1
