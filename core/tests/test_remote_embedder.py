"""The RemoteEmbedder base: what every vendor plugin gets without writing it."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from llm_memory.embedding.remote import RemoteEmbedder
from llm_memory.errors import EmbeddingError
from llm_memory.retry import RetryPolicy
from pydantic import SecretStr


class Echo(RemoteEmbedder):
    """A 'remote' API answered in process: one vector of ``width`` per text."""

    name = "echo"
    label = "Echo"
    env_prefix = "ECHO_"
    max_batch_limit = 3

    def __init__(
        self,
        model: str = "m",
        *,
        width: int = 4,
        short: bool = False,
        retry: RetryPolicy | None = None,
        max_batch_size: int | None = None,
        **connection: Any,  # api_key, base_url, timeout: unused here
    ) -> None:
        super().__init__(model, where="The echo server", retry=retry, max_batch_size=max_batch_size)
        self.width, self.short, self.batches_sent = width, short, []

    def _request(self, batch: list[str], query: bool) -> tuple[Sequence[Sequence[float]], int]:
        self.batches_sent.append((list(batch), query))
        answer = [[float(len(t))] * self.width for t in batch]
        return (answer[:-1] if self.short else answer), 10 * len(batch)


def test_from_options_builds_the_model_and_retry_policy() -> None:
    options = SimpleNamespace(
        model="from-options",
        api_key=SecretStr("k"),
        base_url=None,
        timeout=5.0,
        max_retries=2,
        retry_backoff=0.25,
        max_retry_wait=9.0,
        max_batch_size=50,
    )
    embedder = Echo.from_options(options, "from-embedding-model")
    assert embedder.model == "from-embedding-model"
    assert embedder.retry == RetryPolicy(2, 0.25, 9.0, "ECHO_")
    assert embedder.max_batch_size == 3  # capped to the API's limit
    assert Echo.from_options(options).model == "from-options" and embedder.remote


def test_batches_probe_and_usage() -> None:
    embedder = Echo(width=5)
    assert embedder.dimension == 5  # probed once
    assert embedder.batches_sent == [(["dimension probe"], False)]
    vectors = embedder.embed_documents(["a", "bb", "ccc", "dddd"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0]
    assert [len(b) for b, _ in embedder.batches_sent[1:]] == [3, 1]
    assert embedder.usage.requests == 3 and embedder.usage.texts == 5
    assert embedder.usage.tokens == 50
    assert embedder.embed_query("q") == [1.0] * 5  # queries as documents by default


def test_empty_texts_are_refused_before_any_request() -> None:
    embedder = Echo()
    with pytest.raises(EmbeddingError, match=r"text #1: Echo embeds only non-empty strings"):
        embedder.embed_documents(["fine", ""])
    assert embedder.batches_sent == []


def test_a_short_answer_and_a_wrong_dimension_are_errors() -> None:
    with pytest.raises(EmbeddingError, match="returned 1 embeddings for 2 texts"):
        Echo(short=True).embed_documents(["a", "b"])
    embedder = Echo(width=4)
    embedder.embed_documents(["a"])  # learns 4
    embedder.width = 6
    with pytest.raises(EmbeddingError, match=r"6-dimensional vectors from m; expected 4\."):
        embedder.embed_documents(["a"])
