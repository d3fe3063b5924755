"""Buckets on an S3 endpoint: create, empty and delete, and check that the endpoint answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from snappy_devstack.errors import BackingServiceError, one_line

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = [
    "S3Endpoint",
    "create_bucket",
    "delete_bucket",
    "s3_answers",
    "s3_client",
    "s3_serves_stored_objects",
]

_ALREADY_THERE = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3-compatible object store answers, and the credentials it accepts."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str


def s3_client(
    s3: S3Endpoint, *, connect_timeout: float = 3.0, read_timeout: float = 10.0, attempts: int = 3
) -> S3Client:
    """A boto3 S3 client for `s3` with bounded timeouts and path-style addressing."""
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
            # Local object stores serve buckets as paths, not as virtual host names.
            s3={"addressing_style": "path"},
        ),
    )


def s3_answers(s3: S3Endpoint) -> bool:
    """Whether the endpoint answers an authenticated ListBuckets call."""
    client = s3_client(s3, connect_timeout=1.0, read_timeout=3.0, attempts=1)
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def s3_serves_stored_objects(s3: S3Endpoint, *, max_buckets: int = 20) -> bool:
    """Whether one stored object of each bucket (up to `max_buckets`) can be read back.

    A store that was restarted may list buckets before it can find the data written earlier.
    """
    client = s3_client(s3, connect_timeout=1.0, read_timeout=3.0, attempts=1)
    try:
        for bucket in client.list_buckets().get("Buckets", [])[:max_buckets]:
            name = bucket.get("Name", "")
            listing = client.list_objects_v2(Bucket=name, MaxKeys=1)
            for item in listing.get("Contents", []):
                client.get_object(Bucket=name, Key=item.get("Key", ""))["Body"].read()
    except (BotoCoreError, ClientError):
        return False
    return True


def create_bucket(s3: S3Endpoint, name: str) -> None:
    """Create bucket `name`; a bucket that already exists is left as it is."""
    client = s3_client(s3)
    try:
        if s3.region == "us-east-1":
            client.create_bucket(Bucket=name)
        else:
            client.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": s3.region},  # type: ignore[typeddict-item]
            )
    except ClientError as error:
        if _error_code(error) in _ALREADY_THERE:
            return
        raise _bucket_error("create", name, s3, error) from error
    except BotoCoreError as error:
        raise _bucket_error("create", name, s3, error) from error


def delete_bucket(s3: S3Endpoint, name: str) -> None:
    """Delete every object of bucket `name`, then the bucket; a missing bucket is fine."""
    client = s3_client(s3)
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", []) if "Key" in item
            ]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        for upload in uploads:
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        client.delete_bucket(Bucket=name)
    except ClientError as error:
        if _error_code(error) == "NoSuchBucket":
            return
        raise _bucket_error("delete", name, s3, error) from error
    except BotoCoreError as error:
        raise _bucket_error("delete", name, s3, error) from error


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _bucket_error(action: str, name: str, s3: S3Endpoint, error: Exception) -> BackingServiceError:
    return BackingServiceError(f"cannot {action} bucket {name!r} at {s3.endpoint_url}: {one_line(error)}")
