"""Reading and changing what a stack stored: SQL on its databases, the objects in its bucket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from sqlalchemy import create_engine, text

from snappy_devstack.backing import BackingServices
from snappy_monolith.config import sqlalchemy_url

__all__ = ["empty_bucket", "execute_sql", "fetch_rows", "list_objects", "s3_client"]


def execute_sql(
    database_url: str,
    statement: str,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> Any:
    """Run `statement` in its own transaction, once per parameter set when given a list of them.

    Returns the first column of the first row, for a statement that returns rows.
    """
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), parameters)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def fetch_rows(
    database_url: str, query: str, parameters: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every row `query` returns, as column -> value (committed, for a statement that writes too)."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            return [dict(row) for row in connection.execute(text(query), parameters).mappings()]
    finally:
        engine.dispose()


def s3_client(backing: BackingServices) -> Any:
    """A boto3 client on the session's S3 endpoint."""
    return boto3.client(
        "s3",
        endpoint_url=backing.s3.endpoint_url,
        region_name=backing.s3.region,
        aws_access_key_id=backing.s3.access_key_id,
        aws_secret_access_key=backing.s3.secret_access_key,
    )


def list_objects(backing: BackingServices, bucket: str) -> list[str]:
    """Every key in `bucket`."""
    paginator = s3_client(backing).get_paginator("list_objects_v2")
    return [item["Key"] for page in paginator.paginate(Bucket=bucket) for item in page.get("Contents", [])]


def empty_bucket(backing: BackingServices, bucket: str) -> None:
    """Delete every object in `bucket`."""
    client = s3_client(backing)
    for key in list_objects(backing, bucket):
        client.delete_object(Bucket=bucket, Key=key)
