"""llm-memory-s3: keep snapshots in S3 or any S3-compatible store (MinIO, Ceph, R2).

Select it with ``SNAPSHOT_STORE=s3``; settings come from ``S3_*`` variables or the
``[s3]`` table of ``llm-memory.toml``. boto3 is imported only when the store is built.
"""

from __future__ import annotations

from typing import Any

from llm_memory import hookimpl
from llm_memory.errors import ConfigError
from llm_memory.providers import Provider


def _factory(options: Any, settings: Any) -> Any:
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
    return [
        Provider(
            "s3",
            _factory,
            "llm_memory_s3.options:S3Options",
            "Archives in S3 or an S3-compatible store",
        )
    ]
