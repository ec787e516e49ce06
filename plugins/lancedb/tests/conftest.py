"""Fixtures of the lancedb tests: a bucket on the session's moto server, options for it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from llm_memory_lancedb.options import LanceDBOptions

BUCKET = "llm-memory-lancedb-tests"


@pytest.fixture(scope="session")
def s3_bucket(moto_s3) -> str:
    """One bucket on the moto server for the whole session (each test uses its own prefix)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_s3.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def s3_options(moto_s3, s3_bucket) -> Callable[..., LanceDBOptions]:
    """Options for a fresh ``s3://`` prefix on moto (plain HTTP: allow_http is inferred)."""
    prefix = f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"

    def make(**overrides: object) -> LanceDBOptions:
        values: dict[str, object] = {
            "uri": prefix,
            "endpoint": moto_s3.url,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
            **overrides,
        }
        return LanceDBOptions(**values)

    return make
