"""Settings of the ``openai`` embedder: ``OPENAI_*`` variables or the ``[openai]`` TOML table."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "text-embedding-3-small"


class OpenAIOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENAI_", populate_by_name=True)

    model: str = Field(DEFAULT_MODEL, description="Embedding model; EMBEDDING_MODEL overrides it.")
    dimensions: int | None = Field(
        None,
        ge=1,
        description="Shorten vectors to this length (text-embedding-3 models and later).",
    )
    api_key: SecretStr | None = Field(None, description="API key (OPENAI_API_KEY).")
    base_url: str | None = Field(
        None, description="Any OpenAI-compatible server: Azure, Ollama, vLLM, LM Studio, llama.cpp."
    )
    organization: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_ORGANIZATION", "OPENAI_ORG_ID"),
        description="Organization id sent with each request.",
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
        2048, ge=1, le=2048, description="Inputs per request (API limit 2048)."
    )
    max_batch_tokens: int = Field(
        250_000, ge=1, description="Estimated tokens per request (API limit 300,000)."
    )
