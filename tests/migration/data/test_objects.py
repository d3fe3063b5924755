"""The objects' copy and inventory: the listing diff, the ETag and hash fallbacks, a copy that
fails midway and resumes, deletions racing the copy, and verify's categories, on real S3."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from snappy_migration.errors import MigrationError
from snappy_migration.objects import (
    Action,
    Comparison,
    ObjectCopyFailed,
    ObjectInfo,
    ObjectTransfer,
    Pairing,
    compare_listed,
    copy_listed_objects,
    decide,
    list_objects,
    merge_listings,
)
from snappy_migration.stores import s3_client
from snappy_migration.verify import inventory_objects
from tests.migration.data.conftest import (
    MigrationStores,
    execute,
    put_objects,
    run_migrate,
    seed_monolith,
    target_snapshot,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MD5_A = hashlib.md5(b"a").hexdigest()  # noqa: S324 - an ETag's shape
MD5_B = hashlib.md5(b"b").hexdigest()  # noqa: S324


def info(key: str, size: int = 1, etag: str = MD5_A) -> ObjectInfo:
    return ObjectInfo(key, size, etag)


# The listing diff, without a store.


def test_listings_settle_equal_sizes_and_md5s_and_leave_the_rest_to_hashing() -> None:
    assert compare_listed(info("k"), info("k")) is Comparison.SAME
    assert compare_listed(info("k", size=1), info("k", size=2)) is Comparison.DIFFERENT
    # A multipart upload's ETag is no MD5 of the content, on either side.
    assert compare_listed(info("k", etag=f"{MD5_A}-3"), info("k", etag=MD5_A)) is Comparison.UNSETTLED
    assert compare_listed(info("k", etag=MD5_A), info("k", etag=f"{MD5_A}-3")) is Comparison.UNSETTLED
    # Two MD5-shaped ETags that differ at the same size: a store whose ETags are no MD5s says the same.
    assert compare_listed(info("k", etag=MD5_A), info("k", etag=MD5_B)) is Comparison.UNSETTLED
    assert compare_listed(info("k", etag="opaque"), info("k", etag="opaque")) is Comparison.UNSETTLED


def test_the_merge_pairs_each_named_key_with_both_sides_and_names_the_unnamed_target_objects() -> None:
    source = [info("a"), info("b"), info("c"), info("z")]
    target = [info("0-extra"), info("b"), info("c", size=9), info("d-extra")]

    pairings = list(merge_listings(["a", "b", "c", "e"], source, target))

    assert pairings == [
        Pairing("0-extra", named=False, original=None, copy=info("0-extra")),
        Pairing("a", named=True, original=info("a"), copy=None),
        Pairing("b", named=True, original=info("b"), copy=info("b")),
        Pairing("c", named=True, original=info("c"), copy=info("c", size=9)),
        Pairing("d-extra", named=False, original=None, copy=info("d-extra")),
        Pairing("e", named=True, original=None, copy=None),
    ]


def test_the_diff_skips_copies_checks_and_reports_absent_keys() -> None:
    source = [info("check", etag=f"{MD5_A}-2"), info("copy"), info("resize"), info("same")]
    target = [info("check", etag=MD5_A), info("resize", size=5), info("same"), info("unnamed")]
    named = ["absent", "check", "copy", "resize", "same"]

    decisions = {decision.key: decision.action for decision in decide(merge_listings(named, source, target))}

    assert decisions == {
        "absent": Action.ABSENT,
        "check": Action.CHECK,
        "copy": Action.COPY,
        "resize": Action.COPY,
        "same": Action.SKIP,
    }


def test_names_compare_in_the_byte_order_s3_lists_them_in() -> None:
    # "é" (U+00E9) sorts after "z" in UTF-8 bytes and in code points alike; "Z" before "a".
    keys = ["Z", "a", "z", "é", "😀"]
    source = [info(key) for key in keys]
    assert [key.encode() for key in keys] == sorted(key.encode() for key in keys)

    pairings = list(merge_listings(keys, source, source))

    assert [pairing.key for pairing in pairings] == keys
    assert all(pairing.original == pairing.copy for pairing in pairings)


def test_repeated_names_count_once_and_names_out_of_order_stop_the_merge() -> None:
    assert [pairing.key for pairing in merge_listings(["a", "a", "b"], [], [])] == ["a", "b"]
    with pytest.raises(MigrationError, match="out of order"):
        list(merge_listings(["b", "a"], [], []))


# The copy and the inventory, on the session's S3.


def transfer_of(stores: MigrationStores, client: Any = None) -> ObjectTransfer:
    """A server-side transfer between the test's buckets, on the migration's own client (or `client`)."""
    s3 = client if client is not None else s3_client(stores.endpoints.object_store)
    return ObjectTransfer(s3, stores.source_bucket, s3, stores.target_bucket, server_side=True)


class OpaqueTransfer(ObjectTransfer):
    """A transfer on a store whose ETags are no MD5s: its listings' ETags too (see OpaqueETags)."""

    def source_listing(self) -> Iterator[ObjectInfo]:
        return self._opaque(self.source_bucket, super().source_listing())

    def target_listing(self) -> Iterator[ObjectInfo]:
        return self._opaque(self.target_bucket, super().target_listing())

    @staticmethod
    def _opaque(bucket: str, listing: Iterator[ObjectInfo]) -> Iterator[ObjectInfo]:
        for item in listing:
            yield ObjectInfo(item.key, item.size, OpaqueETags.opaque(bucket, item.etag).strip('"'))


def opaque_transfer_of(stores: MigrationStores) -> ObjectTransfer:
    """A server-side transfer between the test's buckets of a store whose ETags are no MD5s."""
    s3: Any = OpaqueETags(s3_client(stores.endpoints.object_store))
    return OpaqueTransfer(s3, stores.source_bucket, s3, stores.target_bucket, server_side=True)


def seeded_objects(stores: MigrationStores, count: int) -> dict[str, bytes]:
    objects = {f"photos/{index:04d}": f"object {index} ".encode() * (1 + index % 7) for index in range(count)}
    put_objects(stores, objects)
    return objects


def target_contents(stores: MigrationStores) -> dict[str, bytes]:
    client = stores.s3()
    return {
        row[0]: client.get_object(Bucket=stores.target_bucket, Key=row[0])["Body"].read()
        for row in target_snapshot_objects(stores)
    }


def target_snapshot_objects(stores: MigrationStores) -> list[tuple[str, int, str]]:
    paginator = stores.s3().get_paginator("list_objects_v2")
    return sorted(
        (item["Key"], item["Size"], item["ETag"])
        for page in paginator.paginate(Bucket=stores.target_bucket)
        for item in page.get("Contents", [])
    )


def test_a_copy_writes_what_is_missing_or_different_and_a_rerun_writes_nothing(
    stores: MigrationStores,
) -> None:
    objects = seeded_objects(stores, 60)
    client = stores.s3()
    # Already there and equal; there with another size; there with the same size, other bytes.
    client.put_object(Bucket=stores.target_bucket, Key="photos/0000", Body=objects["photos/0000"])
    client.put_object(Bucket=stores.target_bucket, Key="photos/0001", Body=b"short")
    changed = bytes(reversed(objects["photos/0002"]))
    client.put_object(Bucket=stores.target_bucket, Key="photos/0002", Body=changed)
    transfer = transfer_of(stores)

    first = copy_listed_objects(transfer, sorted(objects))
    again = copy_listed_objects(transfer, sorted(objects))

    assert (first.copied, first.unchanged, first.absent) == (59, 1, [])
    # The same size with different MD5 ETags is settled by reading both: once, then copied.
    assert first.hashed == 1
    assert (again.copied, again.unchanged, again.hashed) == (0, 60, 0)
    assert target_contents(stores) == objects


def test_only_named_keys_are_copied_and_named_keys_missing_from_the_source_are_reported(
    stores: MigrationStores,
) -> None:
    objects = seeded_objects(stores, 10)
    named = sorted([*list(objects)[:5], "photos/gone-1", "photos/gone-2"])

    outcome = copy_listed_objects(transfer_of(stores), named)

    assert outcome.absent == ["photos/gone-1", "photos/gone-2"]
    assert sorted(target_contents(stores)) == sorted(objects)[:5]


def upload_in_parts(client: S3Client, bucket: str, key: str, parts: list[bytes]) -> str:
    """Store `key` as a multipart upload of `parts`; its ETag (`<md5>-<parts>`)."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    answers = [
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=part)
        for number, part in enumerate(parts, start=1)
    ]
    done = client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [
                {"PartNumber": number, "ETag": answer["ETag"]} for number, answer in enumerate(answers, 1)
            ]
        },
    )
    return str(done["ETag"]).strip('"')


# S3's smallest part, but for the last one.
PART = 5 * 1024 * 1024


def test_a_multipart_object_is_compared_by_hashing_both_copies(stores: MigrationStores) -> None:
    client = stores.s3()
    parts = [os.urandom(PART), b"the tail"]
    etag = upload_in_parts(client, stores.source_bucket, "photos/big", parts)
    assert "-" in etag
    transfer = transfer_of(stores)

    first = copy_listed_objects(transfer, ["photos/big"])
    again = copy_listed_objects(transfer, ["photos/big"])
    copied = target_contents(stores)["photos/big"]
    # The copy changed by one byte, at the same size: only the hash can tell.
    body = bytearray(b"".join(parts))
    body[-1] ^= 1
    client.put_object(Bucket=stores.target_bucket, Key="photos/big", Body=bytes(body))
    report = inventory_objects(transfer, ["photos/big"])

    assert (first.copied, first.hashed) == (1, 1)
    assert (again.copied, again.unchanged, again.hashed) == (0, 1, 1)
    assert copied == b"".join(parts)
    assert (report.checked, report.different) == (1, ["photos/big"])


class OpaqueETags:
    """A real client whose ETags are no MD5s: a digest of the real one, keyed by bucket
    (the listings' are made so by `OpaqueTransfer`).

    Stands for a store that encrypts with customer keys, or an S3-compatible server with
    ETags of its own: equal contents in two buckets get different ETags.
    """

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @staticmethod
    def opaque(bucket: str, etag: str) -> str:
        return '"' + hashlib.sha256(f"{bucket}:{etag}".encode()).hexdigest()[:32] + '"'

    def copy_object(self, **arguments: Any) -> Any:
        answer = self._client.copy_object(**arguments)
        answer["CopyObjectResult"]["ETag"] = self.opaque(
            arguments["Bucket"], answer["CopyObjectResult"]["ETag"]
        )
        return answer

    def head_object(self, **arguments: Any) -> Any:
        answer = self._client.head_object(**arguments)
        answer["ETag"] = self.opaque(arguments["Bucket"], answer["ETag"])
        return answer

    def get_object(self, **arguments: Any) -> Any:
        answer = self._client.get_object(**arguments)
        answer["ETag"] = self.opaque(arguments["Bucket"], answer["ETag"])
        return answer


def test_a_store_whose_etags_are_no_md5s_is_settled_by_hashing_and_differences_still_found(
    stores: MigrationStores,
) -> None:
    objects = seeded_objects(stores, 12)
    transfer = opaque_transfer_of(stores)

    first = copy_listed_objects(transfer, sorted(objects))
    again = copy_listed_objects(transfer, sorted(objects))
    equal = inventory_objects(transfer, sorted(objects))
    copied = target_contents(stores)
    key = "photos/0005"
    stores.s3().put_object(Bucket=stores.target_bucket, Key=key, Body=bytes(reversed(objects[key])))
    one_changed = inventory_objects(transfer, sorted(objects))

    # Every fresh copy proven by reading both sides, as no ETag matches another.
    assert (first.copied, first.hashed) == (12, 12)
    assert (again.copied, again.unchanged, again.hashed) == (0, 12, 12)
    assert copied == objects
    assert equal.ok
    assert equal.checked == 12
    assert (one_changed.different_count, one_changed.different) == (1, [key])


class DeletesBeforeCopying:
    """A real client; the object named goes from the source just before its copy (a user deleted it)."""

    def __init__(self, client: S3Client, doomed: set[str]) -> None:
        self._client = client
        self._doomed = doomed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def copy_object(self, **arguments: Any) -> Any:
        if arguments["Key"] in self._doomed:
            source = arguments["CopySource"]
            self._client.delete_object(Bucket=source["Bucket"], Key=source["Key"])
        return self._client.copy_object(**arguments)


def test_an_object_deleted_between_the_listing_and_its_copy_is_reported_absent(
    stores: MigrationStores,
) -> None:
    objects = seeded_objects(stores, 8)
    doomed = {"photos/0003", "photos/0006"}
    client = DeletesBeforeCopying(s3_client(stores.endpoints.object_store), doomed)

    outcome = copy_listed_objects(transfer_of(stores, client), sorted(objects))

    assert sorted(outcome.absent) == sorted(doomed)
    assert outcome.copied == 6
    assert set(target_contents(stores)) == set(objects) - doomed


class FailsAfter:
    """A real client whose copies fail once `allowed` of them have been made (a store going away)."""

    def __init__(self, client: S3Client, allowed: int) -> None:
        self._client = client
        self._allowed = allowed
        self._counting = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def copy_object(self, **arguments: Any) -> Any:
        with self._counting:
            self._allowed -= 1
            if self._allowed < 0:
                raise ObjectCopyFailed("the store went away")
        return self._client.copy_object(**arguments)


def test_a_copy_failing_midway_resumes_from_the_listing_and_verifies(stores: MigrationStores) -> None:
    objects = seeded_objects(stores, 300)
    named = sorted(objects)

    with pytest.raises(ObjectCopyFailed, match="went away"):
        copy_listed_objects(
            transfer_of(stores, FailsAfter(s3_client(stores.endpoints.object_store), 100)), named
        )
    copied_before = len(target_snapshot_objects(stores))
    resumed = copy_listed_objects(transfer_of(stores), named)
    report = inventory_objects(transfer_of(stores), named)

    # The copies allowed were made, the copies in flight finished, nothing was written twice.
    assert copied_before == 100
    assert resumed.copied == 300 - copied_before
    assert resumed.unchanged == copied_before
    assert report.ok
    assert report.checked == 300


def test_a_backfill_killed_during_its_objects_resumes_and_verifies(stores: MigrationStores) -> None:
    seed_monolith(stores, users=50, photos=400, shares=50)
    process = subprocess.Popen(
        [sys.executable, "-m", "snappy_migration", "backfill", "--chunk-rows", "10"],
        env={**os.environ, **stores.environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and objects_done(stores) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the backfill ended before it was killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partway = len(target_snapshot(stores)["objects"])

    resumed = run_migrate(stores, "backfill")
    verified = run_migrate(stores, "verify")

    assert 100 <= partway < 800
    assert resumed.returncode == 0, resumed.stderr
    copied = re.search(r"objects copied: (\d+)\.", resumed.stdout)
    assert copied is not None, resumed.stdout
    # Only what was not there yet (copies the store had accepted may have landed after the count).
    assert 0 < int(copied.group(1)) <= 800 - partway
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (
        "objects   800 checked, 0 missing, 0 different, 0 extra, 0 missing in source: ok" in verified.stdout
    )


def objects_done(stores: MigrationStores) -> int:
    """Objects the backfill's checkpoint records as written."""
    if not execute(stores.photos_url, "SELECT to_regclass('snappy_migration.checkpoints') IS NOT NULL")[0][0]:
        return 0
    done = execute(
        stores.photos_url, "SELECT rows FROM snappy_migration.checkpoints WHERE stream = 'objects'"
    )
    return int(done[0][0]) if done else 0


def test_the_inventory_reports_each_category_and_counts_every_named_key(stores: MigrationStores) -> None:
    objects = seeded_objects(stores, 30)
    named = sorted(objects)
    transfer = transfer_of(stores)
    copy_listed_objects(transfer, named)
    client = stores.s3()
    # Missing from the target; different in the target; in the target only (its source gone);
    # in the target and named by nothing.
    client.delete_object(Bucket=stores.target_bucket, Key="photos/0001")
    client.put_object(Bucket=stores.target_bucket, Key="photos/0002", Body=b"other bytes")
    client.delete_object(Bucket=stores.source_bucket, Key="photos/0003")
    client.put_object(Bucket=stores.target_bucket, Key="photos/unnamed", Body=b"left over")

    report = inventory_objects(transfer, named)
    shared = inventory_objects(transfer, named, judge_extras=False)

    assert report.checked == 30
    assert (report.missing_count, report.missing) == (1, ["photos/0001"])
    assert (report.different_count, report.different) == (1, ["photos/0002"])
    assert (report.missing_in_source_count, report.missing_in_source) == (1, ["photos/0003"])
    assert (report.extra_count, report.extra) == (1, ["photos/unnamed"])
    assert not report.ok
    # In a bucket the services share with the monolith, unnamed objects are not the migration's.
    assert (shared.extra_count, shared.checked) == (0, 30)


def test_names_in_the_report_are_the_first_in_key_order_and_counts_are_complete(
    stores: MigrationStores,
) -> None:
    objects = seeded_objects(stores, 40)
    named = sorted(objects)
    # Every target object opaque to its ETag and different: all settled by hashing, on threads.
    for key, body in objects.items():
        stores.s3().put_object(Bucket=stores.target_bucket, Key=key, Body=bytes(reversed(body)))
    transfer = opaque_transfer_of(stores)

    report = inventory_objects(transfer, named)

    assert report.different_count == 40
    assert report.different == named[:20]


def test_a_transfer_whose_two_buckets_are_one_finds_every_object_equal(stores: MigrationStores) -> None:
    objects = seeded_objects(stores, 5)
    s3 = s3_client(stores.endpoints.object_store)
    same_bucket = ObjectTransfer(s3, stores.source_bucket, s3, stores.source_bucket, server_side=True)

    outcome = copy_listed_objects(same_bucket, sorted(objects))

    assert (outcome.copied, outcome.unchanged) == (0, 5)


def test_a_server_side_transfer_needs_one_client(stores: MigrationStores) -> None:
    with pytest.raises(ValueError, match="one client"):
        ObjectTransfer(stores.s3(), "a", stores.s3(), "b", server_side=True)


def test_the_listing_reads_keys_that_need_encoding_whole(stores: MigrationStores) -> None:
    # Spaces, plus signs, percent signs, non-ASCII and XML's own characters, as S3 encodes them.
    objects = {
        key: key.encode()
        for key in ("photos/a b", "photos/a+b", "photos/100%", "photos/é ü", "photos/<&>\"'", "photos/😀")
    }
    put_objects(stores, objects)

    listed = list(list_objects(s3_client(stores.endpoints.object_store), stores.source_bucket))

    assert [item.key for item in listed] == sorted(objects, key=lambda key: key.encode())
    assert all(item.md5 == hashlib.md5(item.key.encode()).hexdigest() for item in listed)  # noqa: S324
    assert [item.size for item in listed] == [len(item.key.encode()) for item in listed]


def test_a_listing_of_a_missing_bucket_fails_with_its_s3_error_code(stores: MigrationStores) -> None:
    with pytest.raises(ClientError) as raised:
        list(list_objects(s3_client(stores.endpoints.object_store), "snappy-no-such-bucket"))

    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def test_a_client_that_presigns_otherwise_lists_through_botocore_with_the_same_result(
    stores: MigrationStores,
) -> None:
    seeded_objects(stores, 30)
    # A plain client (signature version left to botocore, which presigns with version 2 here).
    plain = stores.s3()

    assert list(list_objects(plain, stores.source_bucket)) == list(
        list_objects(s3_client(stores.endpoints.object_store), stores.source_bucket)
    )
