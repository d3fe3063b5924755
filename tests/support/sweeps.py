"""The sweep of unreferenced objects of either version, run on given stores from a test.

Versions are named as the reliability stacks name them (`tests.support.versions.VERSIONS`):
"microservices" is photo-service, the component that owns photos there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from snappy_devstack.backing import BackingServices
from snappy_monolith import __main__ as monolith_main
from snappy_monolith import config as monolith_config
from snappy_monolith import database as monolith_database
from snappy_monolith import photos as monolith_photos
from snappy_monolith import storage as monolith_storage
from snappy_monolith import sweep as monolith_sweep
from snappy_photo_service import __main__ as photo_main
from snappy_photo_service import config as photo_config
from snappy_photo_service import photos as photo_photos
from snappy_photo_service import storage as photo_storage
from snappy_photo_service import sweep as photo_sweep
from snappy_plumbing.database import Database
from tests.support.provisioning import s3_settings

__all__ = ["PHOTO_OWNERS", "PhotoOwner", "SweepCounts", "cli_environment", "run_sweep"]

SweepCounts = monolith_sweep.SweepSummary | photo_sweep.SweepSummary


@dataclass(frozen=True)
class PhotoOwner:
    """The component that owns photos in a version, by its modules.

    The monolith and photo-service give the same functions the same names, so a test
    reaches either one's own code through this, without a branch per version.
    """

    package: str
    main: ModuleType
    config: ModuleType
    photos: ModuleType
    storage: ModuleType
    sweep: ModuleType
    # Its database handle, from a SQLAlchemy URL: an engine, sessions() and dispose().
    database: Callable[[str], Any]

    def object_storage(self, backing: BackingServices, bucket: str) -> Any:
        """Its own S3 client of `bucket` on the session's endpoint."""
        return self.storage.ObjectStorage(s3_settings(self.config.S3Settings, backing, bucket))

    @contextmanager
    def opened_database(self, database_url: str) -> Iterator[Any]:
        """Its own database handle on `database_url`, disposed of afterwards."""
        database = self.database(self.config.sqlalchemy_url(database_url))
        try:
            yield database
        finally:
            database.dispose()


PHOTO_OWNERS = {
    "monolith": PhotoOwner(
        "snappy_monolith",
        monolith_main,
        monolith_config,
        monolith_photos,
        monolith_storage,
        monolith_sweep,
        monolith_database.Database,
    ),
    "microservices": PhotoOwner(
        "snappy_photo_service", photo_main, photo_config, photo_photos, photo_storage, photo_sweep, Database
    ),
}


def run_sweep(
    backing: BackingServices,
    version: str,
    database_url: str,
    bucket: str,
    *,
    grace_seconds: float,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepCounts:
    """Run `version`'s sweep in this process, with its own engine and S3 client, as the command does.

    Any grace may be given here, 0 included: the caller knows whether an upload is in
    flight. The command refuses a grace below the request budget.
    """
    owner = PHOTO_OWNERS[version]
    with owner.opened_database(database_url) as database:
        counts: SweepCounts = owner.sweep.sweep_unreferenced_objects(
            owner.object_storage(backing, bucket),
            database.engine,
            grace_seconds=grace_seconds,
            dry_run=dry_run,
            now=now,
        )
    return counts


def cli_environment(backing: BackingServices, version: str, database_url: str, bucket: str) -> dict[str, str]:
    """The environment `python -m <package> sweep-objects` reads: the deployable's own configuration."""
    environment = {
        **os.environ,
        "SNAPPY_DATABASE_URL": database_url,
        "SNAPPY_S3_BUCKET": bucket,
        "SNAPPY_S3_ENDPOINT_URL": backing.s3.endpoint_url,
        "SNAPPY_S3_REGION": backing.s3.region,
        "SNAPPY_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
        "SNAPPY_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
    }
    if version == "microservices":
        # photo-service's configuration requires it; the sweep never calls user-service.
        environment["SNAPPY_USER_SERVICE_URL"] = "http://127.0.0.1:9"
    return environment
