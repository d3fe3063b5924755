"""`snappy migrate` as an operator meets it: one-line errors, exit statuses, a plan that writes nothing."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command

from snappy_devstack.backing import BackingServices, create_database, drop_database
from snappy_devstack.local_stack import LocalStack, read_local_stack, write_local_stack
from snappy_migration.cli import DefaultStores, resolve_endpoints
from snappy_migration.errors import MigrationError
from snappy_migration.stores import ObjectStore, describe_database
from snappy_monolith.__main__ import alembic_config
from snappy_monolith.config import sqlalchemy_url
from snappy_topology import PartName
from tests.migration.data.conftest import MigrationStores, execute, run_migrate, seed_monolith
from tests.support.session import SESSION_TAG

PROG = "python -m snappy_migration"
# The advisory lock a writing migration holds on the monolith's database.
MIGRATION_LOCK = 0x736E61707079


def no_store_options() -> argparse.Namespace:
    """The parsed options of a command given no store at all."""
    return argparse.Namespace(
        **dict.fromkeys(
            (
                "source_database_url",
                "users_database_url",
                "photos_database_url",
                "s3_endpoint_url",
                "source_bucket",
                "target_bucket",
            )
        )
    )


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a command that cannot go on writes, once it has exited with status 2."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("changed", "error"),
    [
        (
            {"SNAPPY_MIGRATE_USERS_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere"},
            "cannot connect to the user-service database at 127.0.0.1:9/nowhere:",
        ),
        (
            {"SNAPPY_MIGRATE_S3_ENDPOINT_URL": "http://127.0.0.1:9"},
            "cannot reach the object store at http://127.0.0.1:9",
        ),
        ({"SNAPPY_MIGRATE_TARGET_BUCKET": "no-such-bucket"}, "bucket 'no-such-bucket' does not exist"),
    ],
    ids=["database", "S3 endpoint", "bucket"],
)
def test_a_wrong_store_is_one_line_naming_it(
    stores: MigrationStores, changed: dict[str, str], error: str
) -> None:
    assert refusal(run_migrate(stores, "plan", changed=changed)).startswith(f"{PROG} plan: {error}")


@pytest.fixture
def empty_database(backing: BackingServices) -> Iterator[str]:
    """A database with no schema at all."""
    name = f"snappy_mig_empty_{SESSION_TAG}"
    yield create_database(backing.postgres_url, name, drop_existing=True)
    drop_database(backing.postgres_url, name)


def test_a_service_database_without_its_schema_names_the_command_that_creates_it(
    stores: MigrationStores, empty_database: str
) -> None:
    result = run_migrate(stores, "status", changed={"SNAPPY_MIGRATE_PHOTOS_DATABASE_URL": empty_database})

    assert refusal(result) == (
        f"{PROG} status: photo-service's database at {describe_database(empty_database)} has no table"
        " photos, shares: create its schema with `python -m snappy_photo_service migrate`"
        " (SNAPPY_DATABASE_URL set to that database)"
    )


def test_a_monolith_without_the_change_log_names_the_monolith_migration(
    stores: MigrationStores, empty_database: str
) -> None:
    command.upgrade(alembic_config(sqlalchemy_url(empty_database)), "0001")

    result = run_migrate(stores, "backfill", changed={"SNAPPY_MIGRATE_SOURCE_DATABASE_URL": empty_database})

    assert refusal(result) == (
        f"{PROG} backfill: the monolith's database at {describe_database(empty_database)} has no table"
        " change_log: create its schema with `python -m snappy_monolith migrate`"
        " (SNAPPY_DATABASE_URL set to that database)"
    )


def test_sync_before_backfill_says_what_to_run_first(stores: MigrationStores) -> None:
    result = run_migrate(stores, "sync")

    assert refusal(result) == (
        f"{PROG} sync: the backfill of users has not finished: run `snappy migrate backfill` first"
    )


def test_plan_shows_the_work_and_writes_nothing(stores: MigrationStores) -> None:
    seed_monolith(stores, users=12, photos=9, shares=5)

    result = run_migrate(stores, "plan")

    assert result.returncode == 0, result.stderr
    assert "users                12  user-service.users" in result.stdout
    assert "not started" in result.stdout
    assert "Nothing was written" in result.stdout
    for url in (stores.users_url, stores.photos_url):
        assert execute(url, "SELECT to_regclass('snappy_migration.checkpoints')") == [(None,)]
    assert execute(stores.users_url, "SELECT count(*) FROM users") == [(0,)]


def test_run_then_status_shows_every_stream_finished_and_no_lag(stores: MigrationStores) -> None:
    seed_monolith(stores, users=10, photos=10, shares=10)

    ran = run_migrate(stores, "run")
    status = run_migrate(stores, "status")

    assert ran.returncode == 0, ran.stderr
    assert "Backfill done" in ran.stdout
    assert "Verification passed" in ran.stdout
    assert status.returncode == 0
    for stream in ("rows:users", "rows:photos", "rows:shares", "objects"):
        assert f"{stream:<14}finished" in status.stdout
    assert "change log: 0 changes waiting" in status.stdout


def test_store_options_are_all_or_nothing(tmp_path: Path) -> None:
    arguments = argparse.Namespace(
        source_database_url="postgresql://somewhere/monolith",
        users_database_url=None,
        photos_database_url=None,
        s3_endpoint_url=None,
        source_bucket=None,
        target_bucket=None,
    )

    with pytest.raises(
        MigrationError, match=r"missing --users-database-url \(or SNAPPY_MIGRATE_USERS_DATABASE_URL\)"
    ):
        resolve_endpoints(arguments, {})


def test_with_no_store_options_the_local_stack_is_used(tmp_path: Path) -> None:
    stack = LocalStack(
        monolith_database_url="postgresql://127.0.0.1:5432/snappy_monolith",
        user_service_database_url="postgresql://127.0.0.1:5432/snappy_users",
        photo_service_database_url="postgresql://127.0.0.1:5432/snappy_photos",
        object_store=ObjectStore("http://127.0.0.1:8333", "us-east-1", "key", "secret"),
        monolith_bucket="snappy-monolith",
        photo_service_bucket="snappy-photos",
        monolith_url="http://127.0.0.1:8000",
        microservices_url="http://127.0.0.1:8001",
    )
    path = tmp_path / "stack.json"
    write_local_stack(path, stack)
    arguments = no_store_options()

    endpoints = resolve_endpoints(
        arguments,
        {},
        DefaultStores(endpoints=lambda: read_local_stack(path).endpoints(), report_dir=tmp_path),
    )

    assert read_local_stack(path) == stack
    assert path.stat().st_mode & 0o777 == 0o600
    assert endpoints.target_database_urls[PartName.PHOTO_SERVICE].endswith("/snappy_photos")
    assert (endpoints.source_bucket, endpoints.target_bucket) == ("snappy-monolith", "snappy-photos")


def test_with_no_store_options_and_no_local_stack_the_error_says_how_to_start_one(tmp_path: Path) -> None:
    arguments = no_store_options()
    missing_stack = DefaultStores(
        endpoints=lambda: read_local_stack(tmp_path / "stack.json").endpoints(), report_dir=tmp_path
    )

    with pytest.raises(MigrationError, match=r"no local stack is running .* `./snappy up --stack both`"):
        resolve_endpoints(arguments, {}, missing_stack)


def test_with_no_store_options_and_no_defaults_every_missing_store_is_named() -> None:
    with pytest.raises(MigrationError) as raised:
        resolve_endpoints(no_store_options(), {})

    for option in (
        "--source-database-url",
        "--users-database-url",
        "--photos-database-url",
        "--target-bucket",
    ):
        assert option in str(raised.value)


def test_a_second_migration_writing_at_the_same_time_is_refused(stores: MigrationStores) -> None:
    seed_monolith(stores, users=3, photos=0, shares=0)
    with psycopg.connect(stores.source_url, autocommit=True, application_name="first-migration") as first:
        first.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))

        refused = run_migrate(stores, "backfill")
        reading = run_migrate(stores, "plan")

    assert "another migration is writing from this monolith database" in refusal(refused)
    assert "first-migration" in refused.stderr
    assert reading.returncode == 0
    assert run_migrate(stores, "backfill").returncode == 0
