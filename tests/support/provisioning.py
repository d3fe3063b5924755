"""Databases and buckets made for tests on the session's servers, migrated as a deployment migrates them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from alembic import command
from alembic.config import Config

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_monolith.__main__ import alembic_config
from snappy_monolith.config import S3Settings, Settings, TokenSettings, sqlalchemy_url
from tests.support.session import SESSION_SECRET, SESSION_TAG, SIGNING_KEY_PEM

__all__ = [
    "MicroservicesStores",
    "MonolithResources",
    "microservices_stores",
    "migrate",
    "migrated_database",
    "monolith_settings",
    "new_bucket",
    "new_database",
    "provision_monolith",
    "provisioned_monolith",
    "release_monolith",
    "s3_settings",
]

S3SettingsT = TypeVar("S3SettingsT")


@dataclass(frozen=True)
class MonolithResources:
    """A migrated database and a bucket, owned by one test session."""

    database_url: str
    bucket: str


def provision_monolith(backing: BackingServices, name: str) -> MonolithResources:
    """Create and migrate a database, and create a bucket, both named after `name`."""
    database_url = create_database(backing.postgres_url, name, drop_existing=True)
    command.upgrade(alembic_config(sqlalchemy_url(database_url)), "head")
    bucket = name.replace("_", "-")
    create_bucket(backing.s3, bucket)
    return MonolithResources(database_url=database_url, bucket=bucket)


def release_monolith(backing: BackingServices, name: str, resources: MonolithResources) -> None:
    """Drop what `provision_monolith` created."""
    drop_database(backing.postgres_url, name)
    delete_bucket(backing.s3, resources.bucket)


@contextmanager
def provisioned_monolith(backing: BackingServices, name: str) -> Iterator[MonolithResources]:
    """A migrated database and a bucket named after `name`, dropped afterwards."""
    resources = provision_monolith(backing, name)
    try:
        yield resources
    finally:
        release_monolith(backing, name, resources)


def monolith_settings(backing: BackingServices, resources: MonolithResources) -> Settings:
    """Settings for a monolith on these resources, with the session's signing key."""
    return Settings(
        database_url=sqlalchemy_url(resources.database_url),
        s3=s3_settings(S3Settings, backing, resources.bucket),
        tokens=TokenSettings(private_key_pem=SIGNING_KEY_PEM),
        secret_key=SESSION_SECRET,
    )


def s3_settings(
    settings_class: Callable[..., S3SettingsT], backing: BackingServices, bucket: str
) -> S3SettingsT:
    """A part's S3 settings (the monolith's or photo-service's class) for `bucket` on the session's S3."""
    return settings_class(
        bucket=bucket,
        endpoint_url=backing.s3.endpoint_url,
        region=backing.s3.region,
        access_key_id=backing.s3.access_key_id,
        secret_access_key=backing.s3.secret_access_key,
    )


def migrate(package: str, database_url: str) -> None:
    """Apply a deployable's migrations, as its deployment does: `python -m <package> migrate`."""
    subprocess.run(
        [sys.executable, "-m", package, "migrate"],
        env={**os.environ, "SNAPPY_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


@dataclass(frozen=True)
class MicroservicesStores:
    """user-service's database, photo-service's database and its bucket."""

    user_database_url: str
    photo_database_url: str
    bucket: str


@contextmanager
def microservices_stores(backing: BackingServices, prefix: str) -> Iterator[MicroservicesStores]:
    """Both services' databases, migrated, and photo-service's bucket, named after `prefix`; then dropped."""
    user_database = f"{prefix}_users_{SESSION_TAG}"
    photo_database = f"{prefix}_photos_{SESSION_TAG}"
    with (
        new_database(backing, user_database) as user_database_url,
        new_database(backing, photo_database) as photo_database_url,
        new_bucket(backing, photo_database.replace("_", "-")) as bucket,
    ):
        migrate("snappy_user_service", user_database_url)
        migrate("snappy_photo_service", photo_database_url)
        yield MicroservicesStores(user_database_url, photo_database_url, bucket)


@contextmanager
def new_database(backing: BackingServices, name: str) -> Iterator[str]:
    """An empty database `name` (replacing one of that name); its URL. Dropped afterwards."""
    database_url = create_database(backing.postgres_url, name, drop_existing=True)
    try:
        yield database_url
    finally:
        drop_database(backing.postgres_url, name)


@contextmanager
def migrated_database(
    backing: BackingServices, name: str, alembic_config_of: Callable[[str], Config]
) -> Iterator[str]:
    """A new database `name`, migrated to head in this process by a part's Alembic configuration.

    Yields its SQLAlchemy URL; the database is dropped afterwards.
    """
    with new_database(backing, name) as database_url:
        url = sqlalchemy_url(database_url)
        command.upgrade(alembic_config_of(url), "head")
        yield url


@contextmanager
def new_bucket(backing: BackingServices, name: str) -> Iterator[str]:
    """A new bucket `name`; its name. Deleted afterwards, with what it holds."""
    create_bucket(backing.s3, name)
    try:
        yield name
    finally:
        delete_bucket(backing.s3, name)
