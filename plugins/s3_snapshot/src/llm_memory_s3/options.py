"""Settings of the s3 snapshot store. Kept out of the hook module so loading plugins stays light."""

from __future__ import annotations

from typing import Literal

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
