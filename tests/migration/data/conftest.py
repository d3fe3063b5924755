"""Fresh stores for each data-migration test: a monolith's database and bucket, and empty targets.

Each database is cloned from a template migrated once per session (`CREATE DATABASE ...
TEMPLATE`), so a test gets real, fully migrated schemas in a fraction of a second.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

from snappy_devstack.backing import BackingServices, drop_database
from snappy_devstack.postgres import database_url
from snappy_devstack.s3 import s3_client
from snappy_migration.mapping import TABLES
from snappy_migration.stores import Endpoints, ObjectStore
from snappy_topology import PartName
from tests.support.provisioning import migrate, new_bucket, new_database
from tests.support.session import SESSION_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_TEMPLATES = {
    "monolith": "snappy_monolith",
    "users": "snappy_user_service",
    "photos": "snappy_photo_service",
}
_counter = itertools.count()


@dataclass(frozen=True)
class MigrationStores:
    """One test's stores: the monolith's (source) and the services' (targets), and how to reach them."""

    backing: BackingServices
    source_url: str
    users_url: str
    photos_url: str
    source_bucket: str
    target_bucket: str

    @property
    def endpoints(self) -> Endpoints:
        """The stores as the migration tool takes them."""
        s3 = self.backing.s3
        return Endpoints(
            source_database_url=self.source_url,
            target_database_urls={
                PartName.USER_SERVICE: self.users_url,
                PartName.PHOTO_SERVICE: self.photos_url,
            },
            object_store=ObjectStore(s3.endpoint_url, s3.region, s3.access_key_id, s3.secret_access_key),
            source_bucket=self.source_bucket,
            target_bucket=self.target_bucket,
        )

    @property
    def environment(self) -> dict[str, str]:
        """The same stores as `snappy migrate` reads them from the environment."""
        s3 = self.backing.s3
        return {
            "SNAPPY_MIGRATE_SOURCE_DATABASE_URL": self.source_url,
            "SNAPPY_MIGRATE_USERS_DATABASE_URL": self.users_url,
            "SNAPPY_MIGRATE_PHOTOS_DATABASE_URL": self.photos_url,
            "SNAPPY_MIGRATE_S3_ENDPOINT_URL": s3.endpoint_url,
            "SNAPPY_MIGRATE_S3_REGION": s3.region,
            "SNAPPY_MIGRATE_S3_ACCESS_KEY_ID": s3.access_key_id,
            "SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
            "SNAPPY_MIGRATE_SOURCE_BUCKET": self.source_bucket,
            "SNAPPY_MIGRATE_TARGET_BUCKET": self.target_bucket,
        }

    def url_of(self, target: PartName) -> str:
        """The database URL of a target."""
        return self.users_url if target is PartName.USER_SERVICE else self.photos_url

    def s3(self) -> S3Client:
        """A client of the session's S3 endpoint."""
        return s3_client(self.backing.s3)


@pytest.fixture(scope="session")
def migrated_templates(backing: BackingServices) -> Iterator[dict[str, str]]:
    """One migrated database per deployable, cloned by every test."""
    names = {role: f"snappy_template_{role}_{SESSION_TAG}" for role in _TEMPLATES}
    with ExitStack() as templates:
        for role, package in _TEMPLATES.items():
            migrate(package, templates.enter_context(new_database(backing, names[role])))
        yield names


@contextmanager
def cloned_database(backing: BackingServices, template: str, name: str) -> Iterator[str]:
    """A new database `name`, a copy of `template`; its URL. Dropped afterwards."""
    with psycopg.connect(backing.postgres_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    try:
        yield database_url(backing.postgres_url, name)
    finally:
        drop_database(backing.postgres_url, name)


class StoresFactory:
    """Makes fresh stores, and fresh targets for an existing source; `cleanup` drops all of them."""

    def __init__(self, backing: BackingServices, templates: dict[str, str], cleanup: ExitStack) -> None:
        self._backing = backing
        self._templates = templates
        self._cleanup = cleanup

    def _database(self, role: str) -> str:
        name = f"snappy_mig_{role}_{SESSION_TAG}_{next(_counter)}"
        return self._cleanup.enter_context(cloned_database(self._backing, self._templates[role], name))

    def _bucket(self, role: str) -> str:
        name = f"snappy-mig-{role}-{SESSION_TAG}-{next(_counter)}"
        return self._cleanup.enter_context(new_bucket(self._backing, name))

    def stores(self) -> MigrationStores:
        """A migrated monolith database with an empty bucket, and empty migrated targets."""
        return MigrationStores(
            self._backing,
            self._database("monolith"),
            self._database("users"),
            self._database("photos"),
            self._bucket("source"),
            self._bucket("target"),
        )

    def new_targets(self, stores: MigrationStores) -> MigrationStores:
        """The same source as `stores`, with targets of their own."""
        return replace(
            stores,
            users_url=self._database("users"),
            photos_url=self._database("photos"),
            target_bucket=self._bucket("target"),
        )


@pytest.fixture
def stores_factory(backing: BackingServices, migrated_templates: dict[str, str]) -> Iterator[StoresFactory]:
    """Fresh stores on demand, dropped after the test."""
    with ExitStack() as cleanup:
        yield StoresFactory(backing, migrated_templates, cleanup)


@pytest.fixture
def stores(stores_factory: StoresFactory) -> MigrationStores:
    """Fresh, migrated source and target databases and two empty buckets."""
    return stores_factory.stores()


def seed_monolith(stores: MigrationStores, *, users: int, photos: int, shares: int, seed: int = 7) -> None:
    """Rows straight into the monolith's tables, and an object and a thumbnail for every photo."""
    rng = random.Random(seed)
    with psycopg.connect(stores.source_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO users (username, display_name, password_hash, created_at)"
            " SELECT 'user_' || g, 'User ' || g || ' ✓', '$argon2id$v=19$m=65536,t=3,p=4$' || md5(g::text),"
            " now() - g * interval '1 minute' FROM generate_series(1, %s) AS g",
            (users,),
        )
        connection.execute(
            "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
            " object_key, thumbnail_key, created_at)"
            " SELECT u.id, 'Caption ' || g || repeat(' é', g %% 7),"
            " CASE WHEN g %% 3 = 0 THEN 'public' ELSE 'private' END, 'image/png', 10 + g %% 50, 20, 100 + g,"
            " 'photos/' || g || '/' || md5(g::text), 'thumbnails/' || g || '/' || md5(g::text),"
            " now() - g * interval '1 second'"
            " FROM generate_series(1, %s) AS g JOIN users AS u ON u.id = 1 + (g * 7) %% %s",
            (photos, users),
        )
        connection.execute(
            "INSERT INTO shares (photo_id, user_id)"
            " SELECT DISTINCT ON (p.id, u.id) p.id, u.id FROM generate_series(1, %s) AS g"
            " JOIN photos AS p ON p.id = 1 + (g * 13) %% %s"
            " JOIN users AS u ON u.id = 1 + (g * 31) %% %s AND u.id <> p.owner_id"
            " ON CONFLICT DO NOTHING",
            (shares, photos, users),
        )
        keys = [
            row[0]
            for row in connection.execute(
                "SELECT object_key FROM photos UNION ALL SELECT thumbnail_key FROM photos"
            )
        ]
    put_objects(stores, {key: rng.randbytes(64 + rng.randrange(512)) for key in keys})


def put_objects(stores: MigrationStores, objects: dict[str, bytes]) -> None:
    """Store objects in the monolith's bucket, several at a time."""
    client = stores.s3()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda item: client.put_object(Bucket=stores.source_bucket, Key=item[0], Body=item[1]),
                objects.items(),
            )
        )


def table_contents(url: str, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Every row of `table`, ordered by id."""
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY id").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
            )
        ).fetchall()


def target_snapshot(stores: MigrationStores) -> dict[str, list[tuple[Any, ...]]]:
    """Every migrated row of both targets, by table, and the target bucket's keys, sizes and ETags."""
    return _snapshot(
        stores,
        {
            table.target_table: (stores.url_of(table.target), table.target_table, table.target_columns)
            for table in TABLES
        },
        stores.target_bucket,
    )


def source_snapshot(stores: MigrationStores) -> dict[str, list[tuple[Any, ...]]]:
    """The monolith's rows in the same shape as `target_snapshot`, and its bucket's objects."""
    return _snapshot(
        stores,
        {
            table.target_table: (stores.source_url, table.source_table, table.source_columns)
            for table in TABLES
        },
        stores.source_bucket,
    )


def _snapshot(
    stores: MigrationStores, tables: dict[str, tuple[str, str, tuple[str, ...]]], bucket: str
) -> dict[str, list[tuple[Any, ...]]]:
    snapshot = {name: table_contents(url, table, columns) for name, (url, table, columns) in tables.items()}
    paginator = stores.s3().get_paginator("list_objects_v2")
    snapshot["objects"] = sorted(
        (item["Key"], item["Size"], item["ETag"])
        for page in paginator.paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    )
    return snapshot


def execute(url: str, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction; the rows it returns, if any."""
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement, parameters)
        return cursor.fetchall() if cursor.description else []


def run_migrate(
    stores: MigrationStores, *arguments: str, changed: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`snappy migrate <arguments>` as a process of its own, on these stores (some `changed`, if given)."""
    # In a folder of its own: a report the command writes by default lands there, not in the checkout.
    with tempfile.TemporaryDirectory() as folder:
        return subprocess.run(
            [sys.executable, "-m", "snappy_migration", *arguments],
            env={**os.environ, **stores.environment, **(changed or {})},
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


# How a script starts a background job (`snappy-migrate sync --follow &`): with SIGINT
# ignored, a disposition Python keeps unless the program sets its own. `exec` keeps the pid,
# so a signal sent to the process reaches the tool itself.
_WITH_SIGINT_IGNORED = ("sh", "-c", 'trap "" INT; exec "$@"', "sh")


def start_to_interrupt(stores: MigrationStores, *arguments: str) -> subprocess.Popen[str]:
    """`snappy migrate <arguments>` begun with SIGINT ignored, output captured; Ctrl-C must stop it."""
    return subprocess.Popen(
        [*_WITH_SIGINT_IGNORED, sys.executable, "-m", "snappy_migration", *arguments],
        env={**os.environ, **stores.environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(process: subprocess.Popen[str], *, timeout: float = 60) -> tuple[str, str]:
    """Ctrl-C: SIGINT, then the output and errors of the process once it ended; fail if it does not end."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running {timeout} s after Ctrl-C")


def wait_for(condition: Callable[[], bool], what: str, *, timeout: float = 60) -> None:
    """Poll `condition` until it holds; fail the test, naming `what`, when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)
