"""The ``cohere`` embedder: ``POST /v2/embed`` through ``cohere.ClientV2``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

from llm_memory.embedding import Embedder
from llm_memory.errors import ConfigError, EmbeddingError
from llm_memory.retry import RetryPolicy

from llm_memory_cohere._client import CohereAPI
from llm_memory_cohere.options import DEFAULT_MODEL, CohereOptions

InputType = Literal["search_document", "search_query"]
MAX_BATCH = 96
#: model -> (default dimension, output_dimension values it accepts; empty: fixed)
KNOWN_MODELS: dict[str, tuple[int, tuple[int, ...]]] = {
    "embed-v4.0": (1536, (256, 512, 1024, 1536)),
    "embed-english-v3.0": (1024, ()),
    "embed-multilingual-v3.0": (1024, ()),
    "embed-english-light-v3.0": (384, ()),
    "embed-multilingual-light-v3.0": (384, ()),
}
_PROBE_TEXT = "dimension probe"


class CohereEmbedder(Embedder):
    """Stored text is embedded as ``search_document``, queries as ``search_query``.

    Batches of at most 96 texts (the API's limit), retried on 429/5xx, all-or-nothing.
    Known models report their dimension without a request; others are probed once.
    """

    name = "cohere"
    remote = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        output_dimension: int | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_batch_size: int = MAX_BATCH,
    ) -> None:
        super().__init__()
        self.model = model
        self.output_dimension = output_dimension
        self.max_batch_size = max(1, min(max_batch_size, MAX_BATCH))
        self._dimension = _known_dimension(model, output_dimension)
        self._lock = threading.Lock()
        self.api = CohereAPI(api_key, base_url, timeout, retry)

    @classmethod
    def from_options(
        cls, options: CohereOptions, embedding_model: str | None = None
    ) -> CohereEmbedder:
        return cls(
            embedding_model or options.model,
            api_key=options.api_key.get_secret_value() if options.api_key else None,
            base_url=options.base_url,
            output_dimension=options.output_dimension,
            timeout=options.timeout,
            retry=RetryPolicy(
                options.max_retries, options.retry_backoff, options.max_retry_wait, "COHERE_"
            ),
            max_batch_size=options.max_batch_size,
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._embed_batch([_PROBE_TEXT], "search_document")  # sets _dimension from the answer
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, "search_document")

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, "search_query")

    def _embed(self, texts: Sequence[str], input_type: InputType) -> list[list[float]]:
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise EmbeddingError(
                    f"Cannot embed text #{i}: Cohere embeds only non-empty strings."
                )
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.max_batch_size):
            vectors.extend(
                self._embed_batch(texts[start : start + self.max_batch_size], input_type)
            )
        return vectors

    def _embed_batch(self, batch: list[str], input_type: InputType) -> list[list[float]]:
        params: dict[str, Any] = {
            "model": self.model,
            "input_type": input_type,
            "texts": batch,
            "embedding_types": ["float"],
        }
        if self.output_dimension is not None:
            params["output_dimension"] = self.output_dimension
        response = self.api.call(
            lambda: self.api.client.embed(**params),
            f"Embedding with {self.model}",
            "EMBEDDING_MODEL (or COHERE_MODEL)",
            EmbeddingError,
        )
        floats = response.embeddings.float_ if response.embeddings is not None else None
        if floats is None or len(floats) != len(batch):
            got = "no float embeddings" if floats is None else f"{len(floats)} embeddings"
            raise EmbeddingError(
                f"{self.api.where} returned {got} for {len(batch)} texts; nothing was stored."
            )
        vectors = [[float(x) for x in vector] for vector in floats]
        self._check_dimension(vectors)
        billed = response.meta.billed_units if response.meta is not None else None
        with self._lock:
            self.usage.requests += 1
            self.usage.texts += len(batch)
            self.usage.tokens += int(getattr(billed, "input_tokens", 0) or 0)
        return vectors

    def _check_dimension(self, vectors: list[list[float]]) -> None:
        lengths = sorted({len(v) for v in vectors})
        with self._lock:
            if self._dimension is None and len(lengths) == 1 and lengths[0] > 0:
                self._dimension = lengths[0]
            expected = self._dimension
        if lengths != [expected]:
            got = ", ".join(map(str, lengths))
            raise EmbeddingError(
                f"{self.api.where} returned {got}-dimensional vectors from {self.model}; expected {expected}."
            )

    def close(self) -> None:
        self.api.close()


def _known_dimension(model: str, output_dimension: int | None) -> int | None:
    if model not in KNOWN_MODELS:
        return output_dimension
    default, allowed = KNOWN_MODELS[model]
    if output_dimension is None:
        return default
    if not allowed:
        raise ConfigError(
            f"{model} always makes {default}-dimensional vectors: unset COHERE_OUTPUT_DIMENSION, "
            "or use embed-v4.0 or newer."
        )
    if output_dimension not in allowed:
        choices = ", ".join(map(str, allowed))
        raise ConfigError(
            f"COHERE_OUTPUT_DIMENSION={output_dimension} is not offered by {model}; use one of {choices}."
        )
    return output_dimension
