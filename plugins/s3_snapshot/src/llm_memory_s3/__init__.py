"""llm-memory-s3: keep snapshots in S3 or any S3-compatible store (MinIO, Ceph, R2).

Select it with ``SNAPSHOT_STORE=s3``; settings come from ``S3_*`` variables or the
``[s3]`` table of ``llm-memory.toml``. boto3 is imported only when the store is built.
"""

from __future__ import annotations

from typing import Any, Literal

from llm_memory import hookimpl
from llm_memory.errors import ConfigError
from llm_memory.providers import Provider
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Options(BaseSettings):
    """Settings of the ``s3`` snapshot store (``S3_*`` or the ``[s3]`` table)."""

    model_config = SettingsConfigDict(env_prefix="S3_")

    bucket: str | None = Field(None, description="Bucket (also the core setting S3_BUCKET).")
    prefix: str = Field("llm-memory/snapshots", description="Key prefix of the snapshots.")
    region: str | None = Field(None, description="AWS region (default: boto3's chain).")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph, R2).")
    sse: Literal["AES256", "aws:kms"] | None = Field(None, description="Server-side encryption.")
    sse_kms_key_id: str | None = Field(None, description="KMS key for sse=aws:kms.")
    multipart_threshold: int = Field(
        64 << 20, ge=1, description="Bytes above which uploads are multipart."
    )
    multipart_chunksize: int = Field(16 << 20, ge=5 << 20, description="Bytes per multipart part.")
    max_concurrency: int = Field(4, ge=1, le=64, description="Parallel part uploads.")
    max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts per request (retries included)."
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")


def _factory(options: S3Options, settings: Any) -> Any:
    from llm_memory_s3.store import S3SnapshotStore

    bucket = options.bucket or getattr(settings, "s3_bucket", None)
    if not bucket:
        raise ConfigError(
            "The s3 snapshot store needs a bucket: set S3_BUCKET, or `bucket` in the [s3] table "
            "of llm-memory.toml."
        )
    return S3SnapshotStore(bucket, **options.model_dump(exclude={"bucket"}))


@hookimpl
def register_snapshot_stores() -> list[Provider]:
    return [Provider("s3", _factory, S3Options, "Archives in S3 or an S3-compatible store")]
