"""The ``s3`` snapshot store: ``<prefix>/<id>/archive.tar`` + ``<prefix>/<id>/manifest.json``.

The archive is uploaded first (multipart above ``multipart_threshold``), the manifest
last: a snapshot is listed only once its manifest exists, so an upload that failed
half-way is never seen. Credentials come from boto3's normal chain (environment,
``AWS_PROFILE``, instance roles…).
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from llm_memory.errors import NotFound, SnapshotError
from llm_memory.snapshot import SnapshotRef, SnapshotStore, check_snapshot_id, ref_from_manifest

ARCHIVE = "archive.tar"
MANIFEST = "manifest.json"
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidToken",
    "ExpiredToken",
}


class S3SnapshotStore(SnapshotStore):
    """Snapshots in an S3 bucket, or any S3-compatible store (MinIO, Ceph, R2)."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = 64 << 20,
        multipart_chunksize: int = 16 << 20,
        max_concurrency: int = 4,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.client = client or boto3.session.Session().client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=connect_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        self.extra: dict[str, str] = {}
        if sse:
            self.extra["ServerSideEncryption"] = sse
            if sse_kms_key_id:
                self.extra["SSEKMSKeyId"] = sse_kms_key_id

    def _key(self, snapshot_id: str, name: str) -> str:
        check_snapshot_id(snapshot_id)
        return f"{self.prefix}/{snapshot_id}/{name}" if self.prefix else f"{snapshot_id}/{name}"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # -- the contract ------------------------------------------------------------------
    def put(self, snapshot_id: str, archive: Path, manifest: dict[str, Any]) -> SnapshotRef:
        archive_key, manifest_key = (
            self._key(snapshot_id, ARCHIVE),
            self._key(snapshot_id, MANIFEST),
        )
        size = Path(archive).stat().st_size
        body = json.dumps(manifest, indent=1, default=str).encode()
        try:
            self.client.upload_file(
                str(archive),
                self.bucket,
                archive_key,
                ExtraArgs=dict(self.extra),
                Config=self.transfer,
            )
        except Exception as exc:
            raise self._explain(exc, f"upload snapshot {snapshot_id}") from exc
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=manifest_key,
                Body=body,
                ContentType="application/json",
                **self.extra,
            )
        except Exception as exc:
            with contextlib.suppress(Exception):  # an unlisted archive is only clutter
                self.client.delete_object(Bucket=self.bucket, Key=archive_key)
            raise self._explain(exc, f"upload snapshot {snapshot_id}") from exc
        return ref_from_manifest(snapshot_id, size, manifest, 0.0)

    def fetch(self, snapshot_id: str, dest: Path) -> dict[str, Any]:
        manifest = self._manifest(self._key(snapshot_id, MANIFEST), snapshot_id)
        try:
            self.client.download_file(
                self.bucket, self._key(snapshot_id, ARCHIVE), str(dest), Config=self.transfer
            )
        except Exception as exc:
            if _code(exc) in _MISSING_KEY:
                raise self._not_found(snapshot_id) from exc
            raise self._explain(exc, f"download snapshot {snapshot_id}") from exc
        return manifest

    def list(self) -> list[SnapshotRef]:
        root = f"{self.prefix}/" if self.prefix else ""
        found: dict[str, dict[str, Any]] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root
            ):
                for obj in page.get("Contents", []):
                    snapshot_id, _, name = obj["Key"][len(root) :].partition("/")
                    if name in (ARCHIVE, MANIFEST):
                        found.setdefault(snapshot_id, {})[name] = obj
        except Exception as exc:
            raise self._explain(exc, "list snapshots") from exc
        complete = [(i, objs) for i, objs in found.items() if len(objs) == 2 and _valid_id(i)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            manifests = list(pool.map(lambda entry: self._manifest_or_none(entry[0]), complete))
        refs = [
            ref_from_manifest(
                i, objs[ARCHIVE]["Size"], m, objs[MANIFEST]["LastModified"].timestamp()
            )
            for (i, objs), m in zip(complete, manifests, strict=True)
            if m is not None
        ]
        return sorted(refs, key=lambda r: (r.created_at, r.id), reverse=True)

    def delete(self, snapshot_id: str) -> None:
        manifest_key = self._key(snapshot_id, MANIFEST)
        self._manifest(manifest_key, snapshot_id)  # NotFound for an unknown id
        try:  # the manifest first: from then on the snapshot is not listed
            self.client.delete_object(Bucket=self.bucket, Key=manifest_key)
            self.client.delete_object(Bucket=self.bucket, Key=self._key(snapshot_id, ARCHIVE))
        except Exception as exc:
            raise self._explain(exc, f"delete snapshot {snapshot_id}") from exc

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"snapshot_store": self.name, "location": self.location}
        if self.endpoint_url:
            out["endpoint_url"] = self.endpoint_url
        if self.extra:
            out["encryption"] = self.extra["ServerSideEncryption"]
        return out

    # -- helpers -------------------------------------------------------------------------
    def _manifest(self, key: str, snapshot_id: str) -> dict[str, Any]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _code(exc) in _MISSING_KEY:
                raise self._not_found(snapshot_id) from exc
            raise self._explain(exc, f"read snapshot {snapshot_id}") from exc
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _NotJSON(
                f"The manifest of snapshot {snapshot_id} in {self.location} is not JSON."
            )
        return data

    def _manifest_or_none(self, snapshot_id: str) -> dict[str, Any] | None:
        try:
            return self._manifest(self._key(snapshot_id, MANIFEST), snapshot_id)
        except (NotFound, _NotJSON):  # deleted while we listed, or not ours: not listed
            return None

    def _not_found(self, snapshot_id: str) -> NotFound:
        return NotFound(
            f"No snapshot {snapshot_id!r} in {self.location}. Run `llm-memory snapshot list`."
        )

    def _explain(self, exc: Exception, action: str) -> SnapshotError:
        """One line that names the cause: missing bucket, denied access, unreachable endpoint."""
        code = _code(exc)
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        if code == "NoSuchBucket":
            return SnapshotError(
                f"S3 bucket {self.bucket!r} does not exist{where}: create it, or set S3_BUCKET to an "
                "existing bucket."
            )
        if code in _DENIED:
            return SnapshotError(
                f"Access denied to {self.location} ({code}) when trying to {action}: check the AWS "
                "credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the bucket's policy."
            )
        root = _root(exc)
        if isinstance(root, botocore.exceptions.NoCredentialsError):
            return SnapshotError(
                "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE, or run where an instance role is available."
            )
        if isinstance(
            root, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError
        ):
            endpoint = self.endpoint_url or getattr(root, "kwargs", {}).get("endpoint_url") or "S3"
            return SnapshotError(
                f"Cannot reach the S3 endpoint {endpoint}: check S3_ENDPOINT_URL (or S3_REGION) and "
                "that the server is running."
            )
        if code and "KMS" in code:
            return SnapshotError(f"S3 could not use the KMS key ({code}): check S3_SSE_KMS_KEY_ID.")
        detail = f"{code}: {_message(root)}" if code else f"{type(root).__name__}: {root}"
        return SnapshotError(
            f"Could not {action} in {self.location} ({detail}).".replace("\n", " ")
        )


class _NotJSON(SnapshotError):
    pass


def _valid_id(snapshot_id: str) -> bool:
    try:
        check_snapshot_id(snapshot_id)
    except SnapshotError:
        return False
    return True


def _root(exc: BaseException) -> BaseException:
    """The botocore error under boto3's transfer wrappers."""
    if isinstance(exc, RetriesExceededError) and exc.last_exception is not None:
        return _root(exc.last_exception)
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        return _root(exc.__context__)
    return exc


def _code(exc: BaseException) -> str:
    root = _root(exc)
    if isinstance(root, botocore.exceptions.ClientError):
        return str(root.response.get("Error", {}).get("Code", ""))
    return ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)
