"""The ``openai`` embedder, through the official ``openai`` client."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import openai
from llm_memory.embedding import Embedder
from llm_memory.errors import ConfigError, EmbeddingError
from llm_memory.retry import (
    RetryPolicy,
    Transient,
    one_line,
    parse_retry_after,
    with_retries,
)

from llm_memory_openai.options import DEFAULT_MODEL, OpenAIOptions

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: model -> (native dimension, accepts ``dimensions``), so ``dimension`` needs no API call.
KNOWN_MODELS: dict[str, tuple[int, bool]] = {
    "text-embedding-3-small": (1536, True),
    "text-embedding-3-large": (3072, True),
    "text-embedding-ada-002": (1536, False),
}
_RETRY_STATUSES = {408, 409, 429}
_PROBE_TEXT = "dimension probe"


def estimate_tokens(text: str) -> int:
    """A cautious token estimate without a tokenizer: about one token per 3 UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass")) // 3 + 1


class OpenAIEmbedder(Embedder):
    """Embeddings from ``POST /embeddings``, batched, retried, with usage counted.

    Known models report their dimension without a request; any other model (a local
    server's) is asked once, with a one-word probe, and the answer kept.
    """

    name = "openai"
    remote = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        organization: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_batch_size: int = 2048,
        max_batch_tokens: int = 250_000,
    ) -> None:
        super().__init__()
        if not api_key:
            if not base_url:
                raise ConfigError(
                    "OpenAI embeddings need an API key: set OPENAI_API_KEY "
                    "(or OPENAI_BASE_URL to use a local OpenAI-compatible server)."
                )
            api_key = "sk-no-key-required"  # local servers ignore it; the client wants one
        self.model = model
        self.dimensions = dimensions
        self.base_url = base_url or DEFAULT_BASE_URL
        self.retry = retry or RetryPolicy(env_prefix="OPENAI_")
        self.max_batch_size = max(1, min(max_batch_size, 2048))
        self.max_batch_tokens = max(1, max_batch_tokens)
        self._dimension = _known_dimension(model, dimensions)
        self._lock = threading.Lock()
        self._via = "OpenAI" if self.base_url == DEFAULT_BASE_URL else self.base_url
        self._where = (
            "OpenAI"
            if self.base_url == DEFAULT_BASE_URL
            else f"The embedding server at {self.base_url}"
        )
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            organization=organization,
            timeout=timeout,
            max_retries=0,  # retries are ours: see _retry.py
        )

    @classmethod
    def from_options(
        cls, options: OpenAIOptions, embedding_model: str | None = None
    ) -> OpenAIEmbedder:
        return cls(
            embedding_model or options.model,
            api_key=options.api_key.get_secret_value() if options.api_key else None,
            base_url=options.base_url,
            dimensions=options.dimensions,
            organization=options.organization,
            timeout=options.timeout,
            retry=RetryPolicy(
                options.max_retries, options.retry_backoff, options.max_retry_wait, "OPENAI_"
            ),
            max_batch_size=options.max_batch_size,
            max_batch_tokens=options.max_batch_tokens,
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._embed_batch([_PROBE_TEXT])  # sets _dimension from the answer
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise EmbeddingError(
                    f"Cannot embed text #{i}: OpenAI embeds only non-empty strings."
                )
        vectors: list[list[float]] = []
        for batch in self.batches(texts):
            vectors.extend(self._embed_batch(batch))
        return vectors

    def batches(self, texts: list[str]) -> Iterator[list[str]]:
        """Consecutive batches within the per-request input and (estimated) token limits."""
        batch: list[str] = []
        tokens = 0
        for text in texts:
            cost = estimate_tokens(text)
            if batch and (
                len(batch) >= self.max_batch_size or tokens + cost > self.max_batch_tokens
            ):
                yield batch
                batch, tokens = [], 0
            batch.append(text)
            tokens += cost
        if batch:
            yield batch

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        params: dict[str, Any] = {"model": self.model, "input": batch}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        response = with_retries(
            lambda: self.client.embeddings.create(**params),
            self._classify,
            self.retry,
            f"Embedding with {self.model} via {self._via}",
            EmbeddingError,
        )
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(
                f"{self._where} returned {len(data)} embeddings for {len(batch)} texts; nothing was stored."
            )
        vectors = [[float(x) for x in item.embedding] for item in data]
        self._check_dimension(vectors)
        usage = getattr(response, "usage", None)
        with self._lock:
            self.usage.requests += 1
            self.usage.texts += len(batch)
            self.usage.tokens += int(getattr(usage, "total_tokens", 0) or 0)
        return vectors

    def _check_dimension(self, vectors: list[list[float]]) -> None:
        lengths = sorted({len(v) for v in vectors})
        with self._lock:
            if self._dimension is None and len(lengths) == 1 and lengths[0] > 0:
                self._dimension = lengths[0]
            expected = self._dimension
        if lengths != [expected]:
            hint = (
                " (OPENAI_DIMENSIONS: does this model support shortening?)"
                if self.dimensions
                else ""
            )
            got = ", ".join(map(str, lengths))
            raise EmbeddingError(
                f"{self._where} returned {got}-dimensional vectors from {self.model}; "
                f"expected {expected}{hint}."
            )

    def _classify(self, exc: Exception) -> Transient | None:
        if isinstance(exc, openai.APIStatusError):
            status, message = exc.status_code, _message(exc)
            if status in _RETRY_STATUSES or status >= 500:
                return Transient(
                    f"HTTP {status}: {message}", parse_retry_after(exc.response.headers)
                )
            raise EmbeddingError(self._refusal(status, message)) from exc
        if isinstance(exc, openai.APIConnectionError):
            reason = "timed out" if isinstance(exc, openai.APITimeoutError) else one_line(exc)
            return Transient(f"cannot reach {self.base_url} ({reason}; check OPENAI_BASE_URL)")
        if isinstance(exc, openai.OpenAIError | ValueError):
            raise EmbeddingError(
                f"{self._where} sent an unusable response: {one_line(exc)}"
            ) from exc
        return None

    def _refusal(self, status: int, message: str) -> str:
        if status in (401, 403):
            what = "rejected the API key" if status == 401 else "refused access"
            return f"{self._where} {what} (HTTP {status}: {message}). Set OPENAI_API_KEY to a valid key."
        if status == 404:
            return (
                f"{self._where} does not know model {self.model!r} (HTTP 404: {message}). Set EMBEDDING_MODEL "
                "(or OPENAI_MODEL) to a model it serves, and check OPENAI_BASE_URL (usually ends in /v1)."
            )
        return f"{self._where} refused the embedding request (HTTP {status}: {message})."

    def close(self) -> None:
        self.client.close()


def _known_dimension(model: str, dimensions: int | None) -> int | None:
    if model not in KNOWN_MODELS:
        return dimensions
    native, shortens = KNOWN_MODELS[model]
    if dimensions is None:
        return native
    if not shortens:
        raise ConfigError(
            f"{model} cannot shorten its vectors: unset OPENAI_DIMENSIONS or use a text-embedding-3 model."
        )
    if dimensions > native:
        raise ConfigError(
            f"OPENAI_DIMENSIONS={dimensions} is more than {model}'s {native} dimensions."
        )
    return dimensions


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return one_line(body["message"])
    return one_line(exc.message)
