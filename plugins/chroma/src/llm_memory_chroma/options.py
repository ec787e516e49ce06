"""Settings of the chroma backend. Kept out of the hook module so loading plugins stays light."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChromaOptions(BaseSettings):
    """Settings of the ``chroma`` backend (``CHROMA_*`` variables or the ``[chroma]`` table)."""

    model_config = SettingsConfigDict(env_prefix="CHROMA_")

    host: str | None = Field(
        None, description="Chroma server host or URL; unset: embedded in vector_store_dir."
    )
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    ssl: bool = Field(False, description="Use HTTPS to reach the server.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='HTTP headers for the server, e.g. {"Authorization": "Bearer …"}.',
    )
    tenant: str = Field("default_tenant", description="Chroma tenant on the server.")
    database: str = Field("default_database", description="Chroma database on the server.")
