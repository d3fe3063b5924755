"""`sweep-objects` of both versions: objects no row references are deleted once older than the grace.

Each version runs on a database and a bucket of its own here, with real PostgreSQL and
S3. Uploads go through the version's own `upload_photo`, so their objects and rows are
exactly what a request makes, and an upload can be held between storing its objects
and committing its row, the moment a killed worker leaves behind.
"""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from alembic import command

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_devstack.processes import free_ports
from snappy_monolith import models as monolith_models
from tests.images import image_bytes
from tests.support.session import SESSION_TAG
from tests.support.stacks import VERSIONS
from tests.support.stores import execute_sql, list_objects, s3_client
from tests.support.sweeps import PHOTO_OWNERS, PhotoOwner, cli_environment, run_sweep

ORPHANS_OVER_A_PAGE = 1050


@dataclass(frozen=True)
class SweepTarget:
    """One version's migrated database and its bucket."""

    version: str
    backing: BackingServices
    database_url: str
    bucket: str

    def put(self, key: str, data: bytes = b"stray") -> None:
        """Store an object directly, as an upload's first step does."""
        s3_client(self.backing).put_object(Bucket=self.bucket, Key=key, Body=data)

    def stored_keys(self) -> set[str]:
        """Every key in the bucket."""
        return set(list_objects(self.backing, self.bucket))

    def photo_keys(self) -> set[str]:
        """Every key a photo row references."""
        rows = execute_sql(
            self.database_url, "SELECT string_agg(object_key || ' ' || thumbnail_key, ' ') FROM photos"
        )
        return set(rows.split()) if rows else set()

    def last_modified(self, key: str) -> Any:
        """When the store says `key` was written."""
        return s3_client(self.backing).head_object(Bucket=self.bucket, Key=key)["LastModified"]

    @property
    def owner(self) -> PhotoOwner:
        """The component that owns photos in the version, by its modules."""
        return PHOTO_OWNERS[self.version]


@pytest.fixture(scope="module", params=VERSIONS)
def stores(request: pytest.FixtureRequest, backing: BackingServices) -> Iterator[SweepTarget]:
    """A migrated database and a bucket of the version, for this module."""
    version: str = request.param
    name = f"snappy_sweep_{SESSION_TAG}_{version[:4]}"
    database_url = create_database(backing.postgres_url, name, drop_existing=True)
    owner = PHOTO_OWNERS[version]
    command.upgrade(owner.main.alembic_config(owner.config.sqlalchemy_url(database_url)), "head")
    bucket = name.replace("_", "-")
    create_bucket(backing.s3, bucket)
    yield SweepTarget(version, backing, database_url, bucket)
    drop_database(backing.postgres_url, name)
    delete_bucket(backing.s3, bucket)


@pytest.fixture
def target(stores: SweepTarget) -> SweepTarget:
    """The version's stores, emptied."""
    statement = "TRUNCATE shares, photos, upload_requests RESTART IDENTITY CASCADE"
    if stores.version == "monolith":
        statement = "TRUNCATE shares, photos, users, upload_requests RESTART IDENTITY CASCADE"
    execute_sql(stores.database_url, statement)
    client = s3_client(stores.backing)
    for key in stores.stored_keys():
        client.delete_object(Bucket=stores.bucket, Key=key)
    return stores


@dataclass
class UploadInFlight:
    """An upload that has stored its objects and not committed its row yet."""

    object_key: str
    thumbnail_key: str
    commit: Callable[[], None]


@contextmanager
def upload_in_flight(target: SweepTarget) -> Iterator[UploadInFlight]:
    """Run the version's own upload up to its commit; the caller commits."""
    owner = target.owner
    with owner.opened_database(target.database_url) as database:
        session = database.sessions()
        try:
            owner_id = 1  # photo-service keeps no users: any id will do
            if target.version == "monolith":
                user = monolith_models.User(
                    username=f"owner{secrets.token_hex(3)}", display_name="Owner", password_hash="not-a-hash"
                )
                session.add(user)
                session.commit()
                owner_id = user.id
            photo = owner.photos.upload_photo(
                session,
                owner.object_storage(target.backing, target.bucket),
                owner.config.Limits(),
                owner_id=owner_id,
                data=image_bytes(),
                caption="",
                visibility="private",
            )
            yield UploadInFlight(photo.object_key, photo.thumbnail_key, session.commit)
        finally:
            session.close()


def committed_upload(target: SweepTarget) -> set[str]:
    """Upload a photo to the end; its two keys."""
    with upload_in_flight(target) as upload:
        upload.commit()
        return {upload.object_key, upload.thumbnail_key}


@dataclass(frozen=True)
class CommandRun:
    """What one run of the command line did."""

    status: int
    stdout: str
    stderr: str


def run_command(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch, *arguments: str, **changes: str
) -> CommandRun:
    """Run `sweep-objects` through the version's `main`, with its configuration in the environment."""
    environment = {
        **cli_environment(target.backing, target.version, target.database_url, target.bucket),
        **changes,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        status = target.owner.main.main(["sweep-objects", *arguments])
    return CommandRun(status, stdout.getvalue(), stderr.getvalue())


def test_old_orphans_are_deleted_young_and_referenced_objects_kept(target: SweepTarget) -> None:
    referenced = committed_upload(target)
    old_orphans = {"photos/old", "thumbnails/old.jpg"}
    for key in old_orphans:
        target.put(key)
    # Two seconds apart even on a store that keeps whole seconds.
    time.sleep(2)
    target.put("photos/young")
    # The grace counts back from a pinned moment: the store's clock, not this machine's.
    now = target.last_modified("photos/young") + timedelta(seconds=1)

    summary = run_sweep(
        target.backing, target.version, target.database_url, target.bucket, grace_seconds=2, now=now
    )

    assert (summary.listed, summary.referenced, summary.unreferenced) == (5, 2, 3)
    assert (summary.deleted, summary.kept_for_grace) == (2, 1)
    assert target.stored_keys() == referenced | {"photos/young"}
    assert target.photo_keys() == referenced


def test_a_dry_run_deletes_nothing(target: SweepTarget) -> None:
    referenced = committed_upload(target)
    orphans = {"photos/a", "photos/b", "thumbnails/a.jpg"}
    for key in orphans:
        target.put(key)

    summary = run_sweep(
        target.backing, target.version, target.database_url, target.bucket, grace_seconds=0, dry_run=True
    )

    assert (summary.unreferenced, summary.due, summary.deleted) == (3, 3, 0)
    assert summary.line().endswith("deleted 0 (dry run: 3 due), kept for grace 0")
    assert target.stored_keys() == referenced | orphans


def test_more_than_a_page_is_listed_in_pages_and_deleted_in_batches(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    referenced = committed_upload(target)
    client = s3_client(target.backing)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: client.put_object(Bucket=target.bucket, Key=f"photos/stray-{n:05d}", Body=b"x"),
                range(ORPHANS_OVER_A_PAGE),
            )
        )
    storage_class = target.owner.storage.ObjectStorage
    pages: list[int] = []
    batches: list[int] = []
    list_pages, delete_batch = storage_class.list_pages, storage_class.delete_batch

    def counted_pages(storage: Any, prefix: str) -> Iterator[Any]:
        for page in list_pages(storage, prefix):
            pages.append(len(page))
            yield page

    def counted_batch(storage: Any, keys: list[str]) -> None:
        batches.append(len(keys))
        delete_batch(storage, keys)

    monkeypatch.setattr(storage_class, "list_pages", counted_pages)
    monkeypatch.setattr(storage_class, "delete_batch", counted_batch)

    summary = run_sweep(target.backing, target.version, target.database_url, target.bucket, grace_seconds=0)

    # photos/: the orphans and one original, in two ListObjectsV2 pages; thumbnails/: one.
    assert pages == [1000, ORPHANS_OVER_A_PAGE + 1 - 1000, 1]
    assert batches == [1000, ORPHANS_OVER_A_PAGE - 1000]
    assert (summary.listed, summary.referenced, summary.deleted) == (
        ORPHANS_OVER_A_PAGE + 2,
        2,
        ORPHANS_OVER_A_PAGE,
    )
    assert target.stored_keys() == referenced


def test_an_upload_committing_between_listing_and_check_keeps_its_objects(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_module = target.owner.sweep
    check = sweep_module.referenced_keys
    with upload_in_flight(target) as upload:
        listed_before_commit: list[str] = []

        def commit_then_check(engine: Any, keys: list[str]) -> set[str]:
            # The first page was listed while the upload had no row; it commits now.
            if not listed_before_commit:
                listed_before_commit.extend(keys)
                upload.commit()
            found: set[str] = check(engine, keys)
            return found

        monkeypatch.setattr(sweep_module, "referenced_keys", commit_then_check)
        # Grace 0: only the check, which runs after the commit, protects these objects.
        summary = run_sweep(
            target.backing, target.version, target.database_url, target.bucket, grace_seconds=0
        )

    assert upload.object_key in listed_before_commit
    assert (summary.referenced, summary.deleted) == (2, 0)
    assert target.stored_keys() == target.photo_keys() == {upload.object_key, upload.thumbnail_key}


def test_an_upload_committing_after_the_sweep_keeps_its_objects(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    with upload_in_flight(target) as upload:
        # The whole sweep runs while the upload has its objects and no row: the worst case.
        run = run_command(target, monkeypatch)
        upload.commit()

    assert run == CommandRun(
        0,
        "sweep-objects: objects listed 2, referenced 0, unreferenced 2, deleted 0, kept for grace 2\n",
        "",
    )
    assert target.stored_keys() == target.photo_keys() == {upload.object_key, upload.thumbnail_key}


def test_the_command_prints_one_line_and_a_dry_run_says_so(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    referenced = committed_upload(target)
    target.put("photos/young-orphan")

    # The deployed way: `python -m <package> sweep-objects`, in a process of its own.
    dry = subprocess.run(
        [sys.executable, "-m", target.owner.package, "sweep-objects", "--dry-run"],
        env=cli_environment(target.backing, target.version, target.database_url, target.bucket),
        capture_output=True,
        text=True,
        check=False,
    )
    real = run_command(target, monkeypatch, "--grace-seconds", "3600")

    expected = "sweep-objects: objects listed 3, referenced 2, unreferenced 1, deleted {}, kept for grace 1\n"
    assert CommandRun(dry.returncode, dry.stdout, dry.stderr) == CommandRun(
        0, expected.format("0 (dry run: 0 due)"), ""
    )
    assert real == CommandRun(0, expected.format("0"), "")
    assert target.stored_keys() == referenced | {"photos/young-orphan"}


def test_a_grace_shorter_than_the_request_budget_is_refused(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.put("photos/orphan")

    below_default = run_command(target, monkeypatch, "--grace-seconds", "14")
    below_configured = run_command(
        target, monkeypatch, "--grace-seconds", "29", SNAPPY_REQUEST_BUDGET_SECONDS="30"
    )
    at_budget = run_command(target, monkeypatch, "--grace-seconds", "30", SNAPPY_REQUEST_BUDGET_SECONDS="30")

    for refused, budget in ((below_default, "15.0"), (below_configured, "30.0")):
        assert refused.status == 2
        assert refused.stdout == ""
        assert refused.stderr.count("\n") == 1
        assert refused.stderr.startswith("sweep-objects: --grace-seconds ")
        assert f"shorter than the request budget ({budget} s" in refused.stderr
    assert at_budget.status == 0
    assert target.stored_keys() == {"photos/orphan"}


@pytest.mark.parametrize(
    "fault",
    ["missing setting", "S3 unreachable", "no such bucket", "PostgreSQL unreachable"],
)
def test_a_configuration_or_connection_error_exits_2_with_one_line(
    target: SweepTarget, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    target.put("photos/orphan")
    closed_port = free_ports(1)[0]
    changes = {
        "missing setting": {"SNAPPY_S3_BUCKET": ""},
        "S3 unreachable": {
            "SNAPPY_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
            "SNAPPY_S3_MAX_ATTEMPTS": "1",
        },
        "no such bucket": {"SNAPPY_S3_BUCKET": f"{target.bucket}-absent"},
        "PostgreSQL unreachable": {
            "SNAPPY_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port}/absent"
        },
    }[fault]

    run = run_command(target, monkeypatch, **changes)

    assert run.status == 2
    assert run.stdout == ""
    assert run.stderr.startswith("sweep-objects: ")
    assert run.stderr.count("\n") == 1
    assert target.stored_keys() == {"photos/orphan"}
