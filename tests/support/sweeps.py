"""The sweep of unreferenced objects of either version, run on given stores from a test.

Versions are named as the reliability stacks name them (`tests.support.versions.VERSIONS`):
"microservices" is photo-service, the component that owns photos there.
"""

from __future__ import annotations

import os
from datetime import datetime

from snappy_devstack.backing import BackingServices
from snappy_monolith import config as monolith_config
from snappy_monolith import database as monolith_database
from snappy_monolith import storage as monolith_storage
from snappy_monolith import sweep as monolith_sweep
from snappy_photo_service import config as photo_config
from snappy_photo_service import storage as photo_storage
from snappy_photo_service import sweep as photo_sweep
from snappy_plumbing.database import Database

__all__ = ["SweepCounts", "cli_environment", "run_sweep"]

SweepCounts = monolith_sweep.SweepSummary | photo_sweep.SweepSummary


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
    s3 = backing.s3
    if version == "monolith":
        mono_storage = monolith_storage.ObjectStorage(
            monolith_config.S3Settings(
                bucket=bucket,
                endpoint_url=s3.endpoint_url,
                region=s3.region,
                access_key_id=s3.access_key_id,
                secret_access_key=s3.secret_access_key,
            )
        )
        mono_database = monolith_database.Database(monolith_config.sqlalchemy_url(database_url))
        try:
            return monolith_sweep.sweep_unreferenced_objects(
                mono_storage, mono_database.engine, grace_seconds=grace_seconds, dry_run=dry_run, now=now
            )
        finally:
            mono_database.dispose()
    service_storage = photo_storage.ObjectStorage(
        photo_config.S3Settings(
            bucket=bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
    )
    service_database = Database(photo_config.sqlalchemy_url(database_url))
    try:
        return photo_sweep.sweep_unreferenced_objects(
            service_storage, service_database.engine, grace_seconds=grace_seconds, dry_run=dry_run, now=now
        )
    finally:
        service_database.dispose()


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
