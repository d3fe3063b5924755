"""The object-store adapter: photos and thumbnails in an S3-compatible bucket.

It works against AWS S3, DigitalOcean Spaces, MinIO and SeaweedFS alike: the endpoint,
region, bucket and credentials all come from configuration, and every call has explicit
connect and read timeouts and a bounded number of retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from snappy_photo_service.config import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BATCH_KEYS", "ObjectStorage", "StorageError", "StorageUnavailable", "StoredObject"]

logger = logging.getLogger(__name__)

# The most keys one ListObjectsV2 page returns and one DeleteObjects call takes (S3's limit).
BATCH_KEYS = 1000


class StorageError(Exception):
    """The object store failed or did not answer."""


class StorageUnavailable(StorageError):
    """The object store is down, unreachable or too slow: a 503, not a bug of ours."""


def _storage_error(message: str, cause: Exception) -> StorageError:
    # Connect and read timeouts, refused connections and endpoint errors, and the store's
    # own 5xx answers (after botocore's retries) all mean: try again later.
    if isinstance(cause, (BotoConnectionError, HTTPClientError)):
        return StorageUnavailable(message)
    if isinstance(cause, ClientError):
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            return StorageUnavailable(message)
    return StorageError(message)


@dataclass(frozen=True)
class StoredObject:
    """One entry of a bucket listing: the key and when the object was last written."""

    key: str
    last_modified: datetime


class ObjectStorage:
    """Puts, gets and deletes objects in one bucket."""

    def __init__(self, settings: S3Settings) -> None:
        self.bucket = settings.bucket
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=Config(
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
                retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                # Path-style addressing works on every S3-compatible store, Spaces included.
                s3={"addressing_style": "path"},
                signature_version="s3v4",
            ),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"storing {key} failed: {exc}", exc) from exc

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"reading {key} failed: {exc}", exc) from exc

    def delete(self, keys: Iterable[str]) -> None:
        """Delete every key; a key that is already gone is not an error."""
        objects = [{"Key": key} for key in keys]
        if not objects:
            return
        try:
            # DeleteObjects would save round trips, but not every S3-compatible store
            # implements it identically; photos have exactly two objects.
            for item in objects:
                self._client.delete_object(Bucket=self.bucket, Key=item["Key"])
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"deleting {objects} failed: {exc}", exc) from exc

    def list_pages(self, prefix: str) -> Iterator[list[StoredObject]]:
        """The objects under `prefix`, one ListObjectsV2 page (at most BATCH_KEYS) at a time."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": BATCH_KEYS}
        )
        try:
            for page in pages:
                yield [StoredObject(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"listing {self.bucket}/{prefix} failed: {exc}", exc) from exc

    def delete_batch(self, keys: Sequence[str]) -> None:
        """Delete up to BATCH_KEYS keys in one DeleteObjects call; a key already gone is not an error."""
        if len(keys) > BATCH_KEYS:
            raise ValueError(f"{len(keys)} keys in one DeleteObjects call; at most {BATCH_KEYS}")
        if not keys:
            return
        try:
            response = self._client.delete_objects(
                Bucket=self.bucket,
                # Quiet: the answer lists only the keys that could not be deleted.
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"deleting {len(keys)} objects failed: {exc}", exc) from exc
        failed = response.get("Errors", [])
        if failed:
            first = failed[0]
            raise StorageError(
                f"the store kept {len(failed)} of {len(keys)} objects it was asked to delete"
                f" (first: {first.get('Key')}: {first.get('Code')} {first.get('Message')})"
            )

    def ping(self) -> None:
        """Raise StorageError unless the bucket answers."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error(f"bucket {self.bucket} does not answer: {exc}", exc) from exc
