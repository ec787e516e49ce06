"""Settings of the ``lancedb`` storage backend (``LANCEDB_*`` or the ``[lancedb]`` table).

Only pydantic here: the hook module imports this, and must stay fast to load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LanceDBOptions"]


class LanceDBOptions(BaseSettings):
    """Where the table lives, how to reach object storage, and how it is indexed."""

    model_config = SettingsConfigDict(env_prefix="LANCEDB_")

    # Where.
    uri: str | None = Field(
        None,
        description="Local directory or s3://bucket/prefix; default: <vector_store_dir>/lancedb.",
    )
    table: str | None = Field(None, description="Table name; default: the `collection` setting.")

    # Object storage (s3:// URIs). Unset fields fall back to the usual AWS_* variables.
    endpoint: str | None = Field(
        None, description="S3-compatible endpoint URL (MinIO, moto, R2…); unset for AWS."
    )
    region: str | None = Field(
        None, description="Bucket region (most S3-compatible servers need one)."
    )
    access_key_id: str | None = Field(None, description="Access key id (else AWS_ACCESS_KEY_ID).")
    secret_access_key: SecretStr | None = Field(
        None, description="Secret access key (else AWS_SECRET_ACCESS_KEY)."
    )
    session_token: SecretStr | None = Field(
        None, description="Session token for temporary credentials."
    )
    allow_http: bool | None = Field(
        None,
        description="Allow a plain-HTTP endpoint; default: true when `endpoint` starts with http://.",
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="Further lancedb storage options, passed as they are (JSON object in the env).",
    )
    read_consistency_seconds: float | None = Field(
        0.0,
        ge=0,
        description="How stale a read may be w.r.t. other processes' writes: 0 checks every "
        "read; unset never re-checks (fastest, single-writer only).",
    )

    # Indexes.
    fts: bool = Field(True, description="Keep a native full-text (BM25) index on `content`.")
    ann_index_threshold: int = Field(
        100_000, ge=256, description="Rows before an ANN vector index is built (flat search below)."
    )
    index_type: Literal["IVF_HNSW_SQ", "IVF_PQ"] = Field(
        "IVF_HNSW_SQ", description="ANN index: IVF_HNSW_SQ (best recall) or IVF_PQ (smallest)."
    )
    num_partitions: int | None = Field(
        None, ge=1, description="IVF partitions; default: chosen by lancedb from the row count."
    )
    num_sub_vectors: int | None = Field(
        None, ge=1, description="IVF_PQ sub-vectors; default: dimension / 16 (or / 8)."
    )
    m: int | None = Field(None, ge=2, description="IVF_HNSW_SQ graph degree; default 20.")
    ef_construction: int | None = Field(
        None, ge=10, description="IVF_HNSW_SQ build candidates; default 300."
    )
    nprobes: int | None = Field(
        None, ge=1, description="IVF partitions searched per query; default: lancedb's."
    )
    refine_factor: int | None = Field(
        5,
        ge=1,
        description="Re-rank refine_factor * k ANN candidates on exact vectors (recall vs speed).",
    )
    ef: int | None = Field(
        None, ge=1, description="IVF_HNSW_SQ search candidates; default 1.5 * k."
    )

    # Housekeeping.
    optimize_every: int = Field(
        200,
        ge=0,
        description="Writes (per process) between optimize runs, in the background, which "
        "compact files and fold new rows into the indexes; 0 never.",
    )
    optimize_growth: float = Field(
        0.25,
        ge=0,
        description="Also optimize once the rows written (per process) since the last "
        "optimize reach this share of the table, and at least 1,000; 0 never.",
    )
    write_retries: int = Field(
        6, ge=0, description="Extra attempts when a write loses a commit race to another writer."
    )

    def resolved_storage_options(self) -> dict[str, str]:
        """What lancedb's ``connect(storage_options=...)`` receives."""
        out: dict[str, str] = {}
        plain: dict[str, Any] = {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
        }
        for key, value in plain.items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value:
                out[key] = str(value)
        allow_http = self.allow_http
        if allow_http is None and self.endpoint:
            allow_http = self.endpoint.lower().startswith("http://")
        if allow_http:
            out["allow_http"] = "true"
        out.update({key: str(value) for key, value in self.storage_options.items()})
        return out
