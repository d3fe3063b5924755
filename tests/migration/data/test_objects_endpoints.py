"""Objects between two S3 endpoints: streamed GET to PUT, multipart for large ones, retried when
the connection drops, and `snappy migrate` configured for it. The second endpoint is an
embedded SeaweedFS of its own, started once for the session."""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ResponseStreamingError

from snappy_devstack.embedded import embedded_s3
from snappy_devstack.s3 import S3Endpoint, create_bucket, delete_bucket
from snappy_devstack.s3 import s3_client as devstack_s3_client
from snappy_migration.cli import resolve_endpoints
from snappy_migration.errors import MigrationError
from snappy_migration.objects import ObjectCopyFailed, ObjectTransfer, copy_listed_objects, copy_objects
from snappy_migration.stores import Endpoints, ObjectStore, s3_client
from snappy_migration.verify import inventory_objects
from tests.migration.data.conftest import MigrationStores, put_objects, run_migrate, seed_monolith
from tests.support.session import SESSION_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's smallest part but for the last: the part size the large-object tests stream with.
PART = 5 * 1024 * 1024


@pytest.fixture(scope="session")
def other_s3() -> Iterator[S3Endpoint]:
    """A second S3 endpoint: another SeaweedFS, with its own data, ports and credentials' store."""
    with (
        tempfile.TemporaryDirectory(prefix="snappy-second-s3-") as folder,
        embedded_s3(Path(folder), persistent=False) as endpoint,
    ):
        yield endpoint


@pytest.fixture
def other_bucket(other_s3: S3Endpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket on the second endpoint, deleted after the test."""
    name = f"snappy-other-{SESSION_TAG}-{abs(hash(request.node.nodeid)) % 10**8}"
    create_bucket(other_s3, name)
    try:
        yield name
    finally:
        delete_bucket(other_s3, name)


def store_of(endpoint: S3Endpoint) -> ObjectStore:
    return ObjectStore(
        endpoint.endpoint_url, endpoint.region, endpoint.access_key_id, endpoint.secret_access_key
    )


def streamed(stores: MigrationStores, other_s3: S3Endpoint, bucket: str, **options: Any) -> ObjectTransfer:
    """Objects from the test's source bucket to `bucket` on the second endpoint, through this process."""
    return ObjectTransfer(
        s3_client(stores.endpoints.object_store),
        stores.source_bucket,
        s3_client(store_of(other_s3)),
        bucket,
        server_side=False,
        **options,
    )


def contents(client: S3Client, bucket: str) -> dict[str, bytes]:
    paginator = client.get_paginator("list_objects_v2")
    return {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for page in paginator.paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }


def test_objects_stream_to_another_endpoint_whole_and_in_parts_and_verify(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    objects = {f"photos/{index:03d}": os.urandom(100 + index * 37) for index in range(40)}
    # Two full parts and a tail: a multipart upload on the target.
    objects["photos/large"] = os.urandom(2 * PART + 12_345)
    put_objects(stores, objects)
    transfer = streamed(stores, other_s3, other_bucket, part_bytes=PART)

    first = copy_listed_objects(transfer, sorted(objects))
    again = copy_listed_objects(transfer, sorted(objects))
    report = inventory_objects(transfer, sorted(objects))

    assert (first.copied, first.absent) == (41, [])
    assert contents(devstack_s3_client(other_s3), other_bucket) == objects
    # Single-part copies keep the source's MD5 ETag: nothing to hash on a re-run. The large
    # one's ETag is a multipart one on the target: compared by hashing both sides.
    assert (again.copied, again.unchanged, again.hashed) == (0, 41, 1)
    assert report.ok
    assert report.checked == 41
    large = devstack_s3_client(other_s3).head_object(Bucket=other_bucket, Key="photos/large")
    assert str(large["ETag"]).strip('"').endswith("-3")


def test_streamed_copies_check_against_the_source_and_report_absent_keys(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    put_objects(stores, {"photos/a": b"alpha", "photos/b": b"beta"})
    transfer = streamed(stores, other_s3, other_bucket)

    absent = copy_objects(transfer, ["photos/a", "photos/gone", "photos/b"])

    assert absent == ["photos/gone"]
    assert contents(devstack_s3_client(other_s3), other_bucket) == {"photos/a": b"alpha", "photos/b": b"beta"}


class DropsEachBodyOnce:
    """A real client whose first read of each object's body fails halfway, as a dropped connection does."""

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self.dropped: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **arguments: Any) -> Any:
        answer: dict[str, Any] = dict(self._client.get_object(**arguments))
        if arguments["Key"] not in self.dropped:
            self.dropped.append(arguments["Key"])
            answer["Body"] = _BrokenBody(answer["Body"])
        return answer


class _BrokenBody:
    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, amount: int | None = None) -> bytes:
        raise ResponseStreamingError(error="Connection broken: IncompleteRead(5 bytes read)")

    def close(self) -> None:
        self._body.close()


def test_a_transfer_that_drops_midway_is_retried_from_its_get(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    objects = {f"photos/{index}": f"body {index}".encode() * 50 for index in range(6)}
    put_objects(stores, objects)
    source = DropsEachBodyOnce(s3_client(stores.endpoints.object_store))
    transfer = ObjectTransfer(
        source,  # type: ignore[arg-type]
        stores.source_bucket,
        s3_client(store_of(other_s3)),
        other_bucket,
        server_side=False,
        backoff_seconds=0.01,
    )

    outcome = copy_listed_objects(transfer, sorted(objects))

    assert sorted(source.dropped) == sorted(objects)
    assert outcome.copied == 6
    assert contents(devstack_s3_client(other_s3), other_bucket) == objects


def test_a_transfer_that_keeps_failing_stops_with_the_object_named(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    put_objects(stores, {"photos/doomed": b"never arrives"})

    class AlwaysBroken(DropsEachBodyOnce):
        def get_object(self, **arguments: Any) -> Any:
            answer: dict[str, Any] = dict(self._client.get_object(**arguments))
            answer["Body"] = _BrokenBody(answer["Body"])
            return answer

    transfer = ObjectTransfer(
        AlwaysBroken(s3_client(stores.endpoints.object_store)),  # type: ignore[arg-type]
        stores.source_bucket,
        s3_client(store_of(other_s3)),
        other_bucket,
        server_side=False,
        attempts=3,
        backoff_seconds=0.01,
    )

    with pytest.raises(ObjectCopyFailed, match="cannot copy object 'photos/doomed'"):
        copy_listed_objects(transfer, ["photos/doomed"])
    assert contents(devstack_s3_client(other_s3), other_bucket) == {}


def test_snappy_migrate_backfills_and_verifies_into_a_bucket_on_another_endpoint(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    seed_monolith(stores, users=20, photos=30, shares=20)
    elsewhere = {
        "SNAPPY_MIGRATE_TARGET_BUCKET": other_bucket,
        "SNAPPY_MIGRATE_TARGET_S3_ENDPOINT_URL": other_s3.endpoint_url,
        "SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID": other_s3.access_key_id,
        "SNAPPY_MIGRATE_TARGET_S3_SECRET_ACCESS_KEY": other_s3.secret_access_key,
    }

    planned = run_migrate(stores, "plan", changed=elsewhere)
    backfilled = run_migrate(stores, "backfill", changed=elsewhere)
    verified = run_migrate(stores, "verify", changed=elsewhere)
    source_keys = sorted(contents(stores.s3(), stores.source_bucket))

    assert planned.returncode == 0, planned.stderr
    assert f"to '{other_bucket}' at {other_s3.endpoint_url}" in planned.stdout
    assert "streamed from bucket" in planned.stdout
    assert backfilled.returncode == 0, backfilled.stderr
    assert "objects copied: 60." in backfilled.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "objects   60 checked, 0 missing, 0 different, 0 extra" in verified.stdout
    assert sorted(contents(devstack_s3_client(other_s3), other_bucket)) == source_keys
    # The session's own endpoint got nothing: its target bucket is still empty.
    assert contents(stores.s3(), stores.target_bucket) == {}


def test_a_target_bucket_missing_on_the_other_endpoint_is_named_there(
    stores: MigrationStores, other_s3: S3Endpoint
) -> None:
    result = run_migrate(
        stores,
        "plan",
        changed={
            "SNAPPY_MIGRATE_TARGET_BUCKET": "no-such-bucket-here",
            "SNAPPY_MIGRATE_TARGET_S3_ENDPOINT_URL": other_s3.endpoint_url,
            "SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID": other_s3.access_key_id,
            "SNAPPY_MIGRATE_TARGET_S3_SECRET_ACCESS_KEY": other_s3.secret_access_key,
        },
    )

    assert result.returncode == 2
    assert f"bucket 'no-such-bucket-here' does not exist at {other_s3.endpoint_url}" in result.stderr


# Which store serves the target bucket, from the settings alone.


def endpoints_from(environ: dict[str, str], *, target_option: str | None = None) -> Endpoints:
    base = {
        "SNAPPY_MIGRATE_SOURCE_DATABASE_URL": "postgresql://monolith",
        "SNAPPY_MIGRATE_USERS_DATABASE_URL": "postgresql://users",
        "SNAPPY_MIGRATE_PHOTOS_DATABASE_URL": "postgresql://photos",
        "SNAPPY_MIGRATE_S3_ENDPOINT_URL": "http://source:8333",
        "SNAPPY_MIGRATE_S3_ACCESS_KEY_ID": "source-key",
        "SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY": "source-secret",
        "SNAPPY_MIGRATE_SOURCE_BUCKET": "monolith",
        "SNAPPY_MIGRATE_TARGET_BUCKET": "photos",
    }
    arguments = argparse.Namespace(
        source_database_url=None,
        users_database_url=None,
        photos_database_url=None,
        s3_endpoint_url=None,
        source_bucket=None,
        target_bucket=None,
        target_s3_endpoint_url=target_option,
    )
    return resolve_endpoints(arguments, {**base, **environ})


def test_without_target_settings_one_store_serves_both_buckets_and_copies_server_side() -> None:
    endpoints = endpoints_from({})

    assert endpoints.target_object_store is None
    assert endpoints.server_side_copy


def test_a_target_endpoint_alone_keeps_the_sources_credentials_and_region() -> None:
    endpoints = endpoints_from({"SNAPPY_MIGRATE_S3_REGION": "eu-west-1"}, target_option="http://target:9000")

    assert endpoints.target_store == ObjectStore(
        "http://target:9000", "eu-west-1", "source-key", "source-secret"
    )
    assert not endpoints.server_side_copy


def test_target_credentials_alone_mean_another_account_on_the_same_endpoint() -> None:
    endpoints = endpoints_from(
        {
            "SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID": "target-key",
            "SNAPPY_MIGRATE_TARGET_S3_SECRET_ACCESS_KEY": "target-secret",
            "SNAPPY_MIGRATE_TARGET_S3_REGION": "nyc3",
        }
    )

    assert endpoints.target_store == ObjectStore("http://source:8333", "nyc3", "target-key", "target-secret")
    assert not endpoints.server_side_copy


def test_target_settings_equal_to_the_sources_still_copy_server_side() -> None:
    endpoints = endpoints_from(
        {
            "SNAPPY_MIGRATE_TARGET_S3_ENDPOINT_URL": "http://source:8333",
            "SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID": "source-key",
            "SNAPPY_MIGRATE_TARGET_S3_SECRET_ACCESS_KEY": "source-secret",
        }
    )

    assert endpoints.server_side_copy


def test_a_target_key_without_its_secret_is_refused() -> None:
    with pytest.raises(MigrationError, match="set both SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID and"):
        endpoints_from({"SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID": "target-key"})


def test_the_md5_of_a_streamed_multipart_copy_is_the_one_s3_computes(
    stores: MigrationStores, other_s3: S3Endpoint, other_bucket: str
) -> None:
    """The tool predicts the target's multipart ETag from its parts' MD5s: no read-back needed."""
    body = os.urandom(PART + 1)
    put_objects(stores, {"photos/two-parts": body})
    transfer = streamed(stores, other_s3, other_bucket, part_bytes=PART)

    outcome = copy_listed_objects(transfer, ["photos/two-parts"])

    part_md5s = hashlib.md5(body[:PART]).digest() + hashlib.md5(body[PART:]).digest()  # noqa: S324
    etag = devstack_s3_client(other_s3).head_object(Bucket=other_bucket, Key="photos/two-parts")["ETag"]
    assert str(etag).strip('"') == f"{hashlib.md5(part_md5s).hexdigest()}-2"  # noqa: S324
    assert (outcome.copied, outcome.hashed) == (1, 0)
