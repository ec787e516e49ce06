"""The ``cohere`` embedder: ``POST /v2/embed`` through ``cohere.ClientV2``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from llm_memory.embedding.remote import RemoteEmbedder
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


class CohereEmbedder(RemoteEmbedder):
    """Stored text is embedded as ``search_document``, queries as ``search_query``.

    Batches of at most 96 texts (the API's limit), retried on 429/5xx, all-or-nothing.
    Known models report their dimension without a request; others are probed once.
    """

    name = "cohere"
    label = "Cohere"
    env_prefix = "COHERE_"
    max_batch_limit = MAX_BATCH

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
        dimension = _known_dimension(model, output_dimension)
        api = CohereAPI(api_key, base_url, timeout, retry)
        super().__init__(
            model,
            where=api.where,
            dimension=dimension,
            retry=api.retry,
            max_batch_size=max_batch_size,
        )
        self.output_dimension = output_dimension
        self.api = api

    @classmethod
    def option_arguments(cls, options: CohereOptions) -> dict[str, Any]:
        return {**super().option_arguments(options), "output_dimension": options.output_dimension}

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, query=True)

    def _request(self, batch: list[str], query: bool) -> tuple[list[list[float]], int]:
        input_type: InputType = "search_query" if query else "search_document"
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
        if floats is None:
            raise EmbeddingError(
                f"{self.where} returned no float embeddings for {len(batch)} texts; nothing was stored."
            )
        billed = response.meta.billed_units if response.meta is not None else None
        return floats, int(getattr(billed, "input_tokens", 0) or 0)

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
