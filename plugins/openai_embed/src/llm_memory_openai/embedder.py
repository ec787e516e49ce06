"""The ``openai`` embedder, through the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
from llm_memory.embedding.remote import RemoteEmbedder
from llm_memory.errors import ConfigError, EmbeddingError
from llm_memory.retry import (
    RetryPolicy,
    Transient,
    connection_refused,
    one_line,
    parse_retry_after,
    refused,
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


def estimate_tokens(text: str) -> int:
    """A cautious token estimate without a tokenizer: about one token per 3 UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass")) // 3 + 1


class OpenAIEmbedder(RemoteEmbedder):
    """Embeddings from ``POST /embeddings``, batched, retried, with usage counted.

    Known models report their dimension without a request; any other model (a local
    server's) is asked once, with a one-word probe, and the answer kept.
    """

    name = "openai"
    label = "OpenAI"
    env_prefix = "OPENAI_"
    max_batch_limit = 2048

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
        if not api_key:
            if not base_url:
                raise ConfigError(
                    "OpenAI embeddings need an API key: set OPENAI_API_KEY "
                    "(or OPENAI_BASE_URL to use a local OpenAI-compatible server)."
                )
            api_key = "sk-no-key-required"  # local servers ignore it; the client wants one
        self.base_url = base_url or DEFAULT_BASE_URL
        official = self.base_url == DEFAULT_BASE_URL
        super().__init__(
            model,
            where="OpenAI" if official else f"The embedding server at {self.base_url}",
            dimension=_known_dimension(model, dimensions),
            retry=retry,
            max_batch_size=max_batch_size,
        )
        self.dimensions = dimensions
        self.max_batch_tokens = max(1, max_batch_tokens)
        self._via = "OpenAI" if official else self.base_url
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            organization=organization,
            timeout=timeout,
            max_retries=0,  # retries are ours: see llm_memory.retry
        )

    @classmethod
    def option_arguments(cls, options: OpenAIOptions) -> dict[str, Any]:
        return {
            **super().option_arguments(options),
            "dimensions": options.dimensions,
            "organization": options.organization,
            "max_batch_tokens": options.max_batch_tokens,
        }

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

    def _request(self, batch: list[str], query: bool) -> tuple[list[list[float]], int]:
        params: dict[str, Any] = {"model": self.model, "input": batch}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        response = with_retries(
            lambda: self.client.embeddings.create(**params),
            self._classify,
            self.retry,
            self._what(),
            EmbeddingError,
        )
        data = sorted(response.data, key=lambda item: item.index)
        usage = getattr(response, "usage", None)
        return [item.embedding for item in data], int(getattr(usage, "total_tokens", 0) or 0)

    def _dimension_hint(self) -> str:
        return (
            " (OPENAI_DIMENSIONS: does this model support shortening?)" if self.dimensions else ""
        )

    def _what(self) -> str:
        return f"Embedding with {self.model} via {self._via}"

    def _classify(self, exc: Exception) -> Transient | None:
        if isinstance(exc, openai.APIStatusError):
            status, message = exc.status_code, _message(exc)
            if status in _RETRY_STATUSES or status >= 500:
                return Transient(
                    f"HTTP {status}: {message}", parse_retry_after(exc.response.headers)
                )
            raise EmbeddingError(self._refusal(status, message)) from exc
        if isinstance(exc, openai.APIConnectionError):
            if connection_refused(exc):  # nothing listens there: retrying cannot help
                raise EmbeddingError(
                    refused(self._what(), self.base_url, "OPENAI_BASE_URL")
                ) from exc
            reason = "timed out" if isinstance(exc, openai.APITimeoutError) else one_line(exc)
            return Transient(f"cannot reach {self.base_url} ({reason}; check OPENAI_BASE_URL)")
        if isinstance(exc, openai.OpenAIError | ValueError):
            raise EmbeddingError(
                f"{self.where} sent an unusable response: {one_line(exc)}"
            ) from exc
        return None

    def _refusal(self, status: int, message: str) -> str:
        if status in (401, 403):
            what = "rejected the API key" if status == 401 else "refused access"
            return f"{self.where} {what} (HTTP {status}: {message}). Set OPENAI_API_KEY to a valid key."
        if status == 404:
            return (
                f"{self.where} does not know model {self.model!r} (HTTP 404: {message}). Set EMBEDDING_MODEL "
                "(or OPENAI_MODEL) to a model it serves, and check OPENAI_BASE_URL (usually ends in /v1)."
            )
        return f"{self.where} refused the embedding request (HTTP {status}: {message})."

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
