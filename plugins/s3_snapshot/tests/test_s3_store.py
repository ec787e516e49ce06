"""The s3 snapshot store against a real S3-compatible server (moto, on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ConfigError, SnapshotError
from llm_memory.manager import MemoryManager
from llm_memory.plugins import build
from llm_memory.settings import load_settings
from llm_memory.snapshot.engine import Snapshots
from llm_memory.storage import MemoryFilter
from llm_memory.storage.memory import MemoryStore
from llm_memory_s3.store import S3SnapshotStore
from llm_memory_testing import SnapshotStoreContract
from llm_memory_testing.servers import free_port
from llm_memory_testing.snapshot import fake_manifest

pytestmark = pytest.mark.server
MiB = 1 << 20


@pytest.fixture
def s3(moto_s3):
    return boto3.client("s3", endpoint_url=moto_s3.url, region_name="us-east-1")


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    name = f"snap-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def make_store(moto_s3, bucket: str, **kwargs) -> S3SnapshotStore:
    kwargs.setdefault("prefix", "team/snapshots")
    return S3SnapshotStore(
        bucket, endpoint_url=moto_s3.url, region="us-east-1", max_attempts=2, **kwargs
    )


class TestS3SnapshotStore(SnapshotStoreContract):
    """The kit, with a 6 MiB archive and a 1 MiB threshold: its round trip is multipart."""

    large_archive_bytes = 6 * MiB + 123

    @pytest.fixture
    def snapshot_store(self, moto_s3, bucket):
        return make_store(moto_s3, bucket, multipart_threshold=MiB)

    @pytest.fixture
    def reopen_snapshot_store(self, moto_s3, bucket):
        return lambda: make_store(moto_s3, bucket)


# -- what lands in the bucket ------------------------------------------------------------------
def _archive(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "archive.tar"
    path.write_bytes(os.urandom(size))
    return path


def test_large_archives_are_uploaded_in_parts(moto_s3, bucket, s3, tmp_path):
    store = make_store(moto_s3, bucket, multipart_threshold=MiB, multipart_chunksize=5 * MiB)
    store.put("multi", _archive(tmp_path, 11 * MiB), fake_manifest("multi"))
    etag = s3.head_object(Bucket=bucket, Key="team/snapshots/multi/archive.tar")["ETag"]
    assert etag.strip('"').endswith("-3")  # a multipart ETag names its part count
    store = make_store(moto_s3, bucket, multipart_threshold=64 * MiB)
    store.put("single", _archive(tmp_path, 2 * MiB), fake_manifest("single"))
    assert "-" not in s3.head_object(Bucket=bucket, Key="team/snapshots/single/archive.tar")["ETag"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        f"team/snapshots/{i}/{n}"
        for i in ("multi", "single")
        for n in ("archive.tar", "manifest.json")
    ]


def test_server_side_encryption_aes256(moto_s3, bucket, s3, tmp_path):
    store = make_store(moto_s3, bucket, sse="AES256")
    store.put("enc", _archive(tmp_path, 1000), fake_manifest("enc"))
    for name in ("archive.tar", "manifest.json"):
        head = s3.head_object(Bucket=bucket, Key=f"team/snapshots/enc/{name}")
        assert head["ServerSideEncryption"] == "AES256"
    assert store.describe()["encryption"] == "AES256"


def test_server_side_encryption_with_a_kms_key(moto_s3, bucket, s3, tmp_path):
    key_id = boto3.client("kms", endpoint_url=moto_s3.url, region_name="us-east-1").create_key()[
        "KeyMetadata"
    ]["KeyId"]
    store = make_store(
        moto_s3, bucket, sse="aws:kms", sse_kms_key_id=key_id, multipart_threshold=MiB
    )
    store.put("kms", _archive(tmp_path, 6 * MiB), fake_manifest("kms"))
    head = s3.head_object(Bucket=bucket, Key="team/snapshots/kms/archive.tar")
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
    dest = tmp_path / "back.tar"
    store.fetch("kms", dest)
    assert dest.read_bytes() == (tmp_path / "archive.tar").read_bytes()


def test_an_empty_prefix_puts_snapshots_at_the_bucket_root(moto_s3, bucket, s3, tmp_path):
    store = make_store(moto_s3, bucket, prefix="")
    store.put("root", _archive(tmp_path, 10), fake_manifest("root"))
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "root/archive.tar",
        "root/manifest.json",
    ]
    assert [r.id for r in store.list()] == ["root"]


def test_an_archive_without_its_manifest_is_not_listed(moto_s3, bucket, s3):
    s3.put_object(Bucket=bucket, Key="team/snapshots/half/archive.tar", Body=b"x" * 100)
    s3.put_object(Bucket=bucket, Key="team/snapshots/other-file.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="team/snapshots/junk/archive.tar", Body=b"x")
    s3.put_object(Bucket=bucket, Key="team/snapshots/junk/manifest.json", Body=b"<html>")
    assert make_store(moto_s3, bucket).list() == []


# -- errors name the cause, in one line ---------------------------------------------------------
def test_a_missing_bucket_is_named(moto_s3, tmp_path):
    store = make_store(moto_s3, "no-such-bucket-here")
    for call in (store.list, lambda: store.put("x", _archive(tmp_path, 10), fake_manifest("x"))):
        with pytest.raises(SnapshotError) as info:
            call()
        assert str(info.value) == (
            f"S3 bucket 'no-such-bucket-here' does not exist at {moto_s3.url}: create it, or set "
            "S3_BUCKET to an existing bucket."
        )


def test_an_unreachable_endpoint_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    store = S3SnapshotStore(
        "b", endpoint_url=url, region="us-east-1", max_attempts=1, connect_timeout=2
    )
    with pytest.raises(
        SnapshotError, match=rf"^Cannot reach the S3 endpoint {url}: check S3_ENDPOINT_URL"
    ):
        store.list()
    with pytest.raises(SnapshotError, match="Cannot reach the S3 endpoint"):
        store.put("x", _archive(tmp_path, 10), fake_manifest("x"))


@pytest.fixture
def auth_enforced(moto_s3, monkeypatch) -> Iterator[None]:
    """Make moto check IAM (for this test only), as a user with no permission at all."""
    iam = boto3.client("iam", endpoint_url=moto_s3.url, region_name="us-east-1")
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    _reset_auth(moto_s3.url, "0")
    try:
        yield
    finally:
        _reset_auth(moto_s3.url, "inf")


def _reset_auth(url: str, count: str) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_access_denied_is_named(moto_s3, bucket, auth_enforced, tmp_path):
    store = make_store(moto_s3, bucket)
    with pytest.raises(SnapshotError) as info:
        store.list()
    assert str(info.value).startswith(
        f"Access denied to s3://{bucket}/team/snapshots (AccessDenied)"
    )
    assert "check the AWS credentials" in str(info.value)
    with pytest.raises(SnapshotError, match=r"^Access denied"):
        store.put("x", _archive(tmp_path, 10), fake_manifest("x"))


# -- selection by settings ----------------------------------------------------------------------
def test_selected_by_settings_with_the_bucket_from_S3_BUCKET(moto_s3, bucket, monkeypatch):
    monkeypatch.setenv("SNAPSHOT_STORE", "s3")
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_s3.url)
    monkeypatch.setenv("S3_PREFIX", "from-env")
    monkeypatch.setenv("S3_SSE", "AES256")
    settings = load_settings()
    store = build("snapshot", settings.snapshot_store, settings)
    assert isinstance(store, S3SnapshotStore)
    assert (store.bucket, store.prefix, store.extra) == (
        bucket,
        "from-env",
        {"ServerSideEncryption": "AES256"},
    )
    monkeypatch.delenv("S3_BUCKET")
    with pytest.raises(ConfigError, match="needs a bucket: set S3_BUCKET"):
        build("snapshot", "s3", load_settings())


def test_the_hook_module_does_not_import_boto3():
    code = "import sys, llm_memory_s3; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


# -- the whole flow: memories -> S3 -> memories ---------------------------------------------------
def _contents(manager: MemoryManager) -> dict:
    out = {}
    for user in manager.store.users():
        items = manager.store.list(MemoryFilter(user_id=user), limit=1000)
        vectors = manager.store.get_vectors(user, [i.id for i in items])
        out.update({(user, i.id): (i.model_dump(), np.asarray(vectors[i.id])) for i in items})
    return out


def test_snapshot_to_s3_and_restore(moto_s3, bucket, s3, tmp_path):
    settings = load_settings(snapshot_dir=tmp_path / "local-state")
    manager = MemoryManager(
        MemoryStore(tmp_path / "db.json"), HashEmbedder(dimension=32), settings=settings
    )
    manager.write_memories(
        [
            {"user_id": u, "content": f"{u} knows fact {i}"}
            for u in ("alice", "bob")
            for i in range(15)
        ]
    )
    before = _contents(manager)
    snapshots = Snapshots(manager, store=make_store(moto_s3, bucket, multipart_threshold=MiB))
    ref = snapshots.create()
    assert ref.manifest["counts"] == {"alice": 15, "bob": 15}
    manager.forget_user("alice")
    manager.write_memory("bob learned one more thing", "bob")

    assert snapshots.restore("latest").restored == 30
    after = _contents(manager)
    assert after.keys() == before.keys()
    assert all(
        after[k][0] == before[k][0] and np.allclose(after[k][1], before[k][1], atol=1e-6)
        for k in before
    )

    key = f"team/snapshots/{ref.id}/archive.tar"
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 3] ^= 0x10
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    manager.write_memory("written after the damage", "carol")
    with pytest.raises(SnapshotError, match=f"^Snapshot {ref.id} is corrupt"):
        snapshots.restore(ref.id)
    assert manager.store.count("carol") == 1

    second = snapshots.create(user_id="carol")
    third = snapshots.create()
    assert [r.id for r in snapshots.list()] == [third.id, second.id, ref.id]
    assert snapshots.prune(keep=1) == [ref.id]
    manager.close()
