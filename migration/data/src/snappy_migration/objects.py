"""The photos' objects: copied server-side from the monolith's bucket, and proven equal.

Two objects are equal when their sizes match and their checksums do. S3 gives an MD5 as
the ETag of an object stored in one part (every object Snappy writes); when either ETag
is not one (a multipart upload's `<md5>-<parts>`), both objects are read and their
SHA-256 digests compared instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from snappy_migration.errors import MigrationError
from snappy_migration.stores import ABSENT_CODES, one_line, s3_error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "COPY_THREADS",
    "ObjectCopyFailed",
    "ObjectInfo",
    "copy_objects",
    "delete_objects",
    "list_objects",
    "object_info",
    "same_content",
]

COPY_THREADS = 8
_READ_CHUNK_BYTES = 1024 * 1024
_DELETE_BATCH = 1000


class ObjectCopyFailed(MigrationError):
    """An object could not be copied, or its copy differs from the original."""


@dataclass(frozen=True)
class ObjectInfo:
    """An object's key, size in bytes and ETag (quotes removed)."""

    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The content's MD5 when the ETag is one (single-part uploads), else None."""
        return self.etag if len(self.etag) == 32 and "-" not in self.etag else None


def object_info(s3: S3Client, bucket: str, key: str) -> ObjectInfo | None:
    """The object's size and ETag, or None if there is no such object."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if s3_error_code(error) in ABSENT_CODES:
            return None
        raise
    return ObjectInfo(key, int(head["ContentLength"]), head["ETag"].strip('"'))


def list_objects(s3: S3Client, bucket: str) -> Iterator[ObjectInfo]:
    """Every object of `bucket`, in key order (S3 lists keys sorted by their UTF-8 bytes)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield ObjectInfo(item["Key"], int(item["Size"]), item["ETag"].strip('"'))


def same_content(
    s3: S3Client, original: ObjectInfo, original_bucket: str, copy: ObjectInfo, copy_bucket: str
) -> bool:
    """Whether two objects hold the same bytes: size and MD5, or size and SHA-256 read in full."""
    if original.size != copy.size:
        return False
    if original.md5 is not None and copy.md5 is not None:
        return original.md5 == copy.md5
    return _sha256(s3, original_bucket, original.key) == _sha256(s3, copy_bucket, copy.key)


def copy_objects(s3: S3Client, keys: Iterable[str], *, source_bucket: str, target_bucket: str) -> list[str]:
    """Copy each key server-side and check the copy; return the keys absent from the source.

    Copies run on a few threads: each is a round trip that moves no bytes through here.
    """
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        outcomes = list(pool.map(lambda key: _copy_one(s3, key, source_bucket, target_bucket), keys))
    return [key for key, copied in zip(keys, outcomes, strict=True) if not copied]


def delete_objects(s3: S3Client, bucket: str, keys: Iterable[str]) -> None:
    """Delete `keys` from `bucket`; absent keys are not an error."""
    keys = list(keys)
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        try:
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
        except (BotoCoreError, ClientError) as error:
            raise ObjectCopyFailed(
                f"cannot delete objects from bucket {bucket!r}: {one_line(error)}"
            ) from error


def _copy_one(s3: S3Client, key: str, source_bucket: str, target_bucket: str) -> bool:
    try:
        original = object_info(s3, source_bucket, key)
        if original is None:
            return False
        copy = object_info(s3, target_bucket, key)
        if copy is None or not same_content(s3, original, source_bucket, copy, target_bucket):
            s3.copy_object(Bucket=target_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key})
            copy = object_info(s3, target_bucket, key)
    except ClientError as error:
        if s3_error_code(error) in ABSENT_CODES:
            return False  # Deleted from the source between the look and the copy.
        raise ObjectCopyFailed(
            f"cannot copy object {key!r} from bucket {source_bucket!r} to {target_bucket!r}:"
            f" {one_line(error)}"
        ) from error
    except BotoCoreError as error:
        raise ObjectCopyFailed(
            f"cannot copy object {key!r} from bucket {source_bucket!r} to {target_bucket!r}:"
            f" {one_line(error)}"
        ) from error
    if copy is None or not same_content(s3, original, source_bucket, copy, target_bucket):
        raise ObjectCopyFailed(
            f"the copy of object {key!r} in bucket {target_bucket!r} differs from the original"
        )
    return True


def _sha256(s3: S3Client, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for block in iter(lambda: body.read(_READ_CHUNK_BYTES), b""):
        digest.update(block)
    return digest.hexdigest()
