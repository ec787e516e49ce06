"""Settings of the ``cohere`` embedder and reranker: ``COHERE_*`` variables or the ``[cohere]`` table."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "embed-v4.0"
DEFAULT_RERANK_MODEL = "rerank-v4.0-fast"


class CohereOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COHERE_", populate_by_name=True)

    model: str = Field(DEFAULT_MODEL, description="Embedding model; EMBEDDING_MODEL overrides it.")
    rerank_model: str = Field(DEFAULT_RERANK_MODEL, description="Model of the cohere reranker.")
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("COHERE_API_KEY", "CO_API_KEY"),
        description="API key (COHERE_API_KEY or CO_API_KEY).",
    )
    base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("COHERE_BASE_URL", "CO_API_URL"),
        description="API address, for a private deployment or proxy (default https://api.cohere.com).",
    )
    output_dimension: int | None = Field(
        None, ge=1, description="Vector length for Embed v4 and newer: 256, 512, 1024 or 1536."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(
        5, ge=0, le=50, description="Retries on 429, 5xx, timeouts and lost connections."
    )
    retry_backoff: float = Field(
        0.5, ge=0, description="First retry wait in seconds; doubles each retry."
    )
    max_retry_wait: float = Field(
        60.0, gt=0, description="Longest single wait; a longer Retry-After fails at once."
    )
    max_batch_size: int = Field(
        96, ge=1, le=96, description="Texts per embed request (API limit 96)."
    )
    rerank_batch_size: int = Field(1000, ge=1, description="Documents per rerank request.")
