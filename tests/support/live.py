"""Both versions of Snappy under gunicorn, as deployed, for tests that talk HTTP to them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_devstack.processes import stop_process
from snappy_topology import PartName, part
from tests.support.gunicorn import spawn_monolith
from tests.support.parts import part_environment, spawn_microservices
from tests.support.provisioning import MonolithResources, migrate, provision_monolith, release_monolith
from tests.support.session import SESSION_SECRET, SESSION_TAG, SIGNING_KEY_PEM

__all__ = [
    "REVOCATION_TTL_SECONDS",
    "LiveMicroservices",
    "LiveMonolith",
    "running_microservices",
    "running_monolith",
]

# How often the live photo-service and web-ui fetch the revoked tokens (seconds).
REVOCATION_TTL_SECONDS = 0.2
# How long a live process may take to stop after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class LiveMonolith:
    """The monolith under gunicorn, as deployed, on its own database and bucket."""

    base_url: str
    resources: MonolithResources
    environment: dict[str, str]
    log_path: Path


@contextmanager
def running_monolith(backing: BackingServices, folder: Path) -> Iterator[LiveMonolith]:
    """The monolith under gunicorn on a database and bucket of its own; all gone afterwards."""
    name = f"snappy_live_{SESSION_TAG}"
    resources = provision_monolith(backing, name)
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    environment = {
        **os.environ,
        "SNAPPY_DATABASE_URL": resources.database_url,
        "SNAPPY_S3_BUCKET": resources.bucket,
        "SNAPPY_S3_ENDPOINT_URL": backing.s3.endpoint_url,
        "SNAPPY_S3_REGION": backing.s3.region,
        "SNAPPY_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
        "SNAPPY_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
        "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file),
        "SNAPPY_SECRET_KEY": SESSION_SECRET,
        "SNAPPY_THREADS": "4",
    }
    log_path = folder / "gunicorn.log"
    try:
        process, base_url = spawn_monolith(environment, log_path)
        try:
            yield LiveMonolith(
                base_url=base_url, resources=resources, environment=environment, log_path=log_path
            )
        finally:
            stop_process(process, grace_seconds=STOP_GRACE_SECONDS)
    finally:
        release_monolith(backing, name, resources)


@dataclass(frozen=True)
class LiveMicroservices:
    """user-service, photo-service, web-ui and the edge (phase 3) under gunicorn."""

    edge_url: str
    user_service_url: str
    photo_service_url: str
    web_ui_url: str
    user_database_url: str
    photo_database_url: str
    bucket: str
    # What every part of the stack runs with beyond its topology settings (e.g. SNAPPY_THREADS).
    environment: dict[str, str]
    key_file: Path
    log_path: Path

    def environment_of(self, name: PartName, backing: BackingServices, port: int) -> dict[str, str]:
        """The environment of one more instance of part `name` on port `port`, on this stack's stores."""
        running = {
            PartName.USER_SERVICE: self.user_service_url,
            PartName.PHOTO_SERVICE: self.photo_service_url,
            PartName.WEB_UI: self.web_ui_url,
        }
        databases = {
            PartName.USER_SERVICE: self.user_database_url,
            PartName.PHOTO_SERVICE: self.photo_database_url,
        }
        described = part(name)
        return part_environment(
            name,
            backing,
            port=port,
            base=self.environment,
            peers={peer.name: running[peer.name] for peer in described.peers if peer.name in running},
            database_url=databases.get(name),
            bucket=self.bucket if described.bucket is not None else None,
            key_file=self.key_file,
            session_secret=SESSION_SECRET,
        )


@contextmanager
def running_microservices(backing: BackingServices, folder: Path) -> Iterator[LiveMicroservices]:
    """The microservices and their edge under gunicorn, as `snappy up` runs them, on stores of their own."""
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    user_database = f"snappy_users_{SESSION_TAG}"
    photo_database = f"snappy_photos_{SESSION_TAG}"
    user_database_url = create_database(backing.postgres_url, user_database, drop_existing=True)
    photo_database_url = create_database(backing.postgres_url, photo_database, drop_existing=True)
    migrate("snappy_user_service", user_database_url)
    migrate("snappy_photo_service", photo_database_url)
    bucket = f"snappy-photos-{SESSION_TAG}"
    create_bucket(backing.s3, bucket)
    log_path = folder / "services.log"
    common = {
        **os.environ,
        "SNAPPY_THREADS": "4",
        # Revocations reach photo-service and web-ui this soon, so tests need not wait long.
        "SNAPPY_REVOCATION_TTL_SECONDS": str(REVOCATION_TTL_SECONDS),
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = spawn_microservices(
            backing,
            common,
            user_database_url=user_database_url,
            photo_database_url=photo_database_url,
            bucket=bucket,
            key_file=key_file,
            log_path=log_path,
            processes=processes,
        )
        yield LiveMicroservices(
            edge_url=urls.edge_url,
            user_service_url=urls.user_service_url,
            photo_service_url=urls.photo_service_url,
            web_ui_url=urls.web_ui_url,
            user_database_url=user_database_url,
            photo_database_url=photo_database_url,
            bucket=bucket,
            environment=common,
            key_file=key_file,
            log_path=log_path,
        )
    finally:
        for process in reversed(processes):
            stop_process(process, grace_seconds=STOP_GRACE_SECONDS)
        drop_database(backing.postgres_url, user_database)
        drop_database(backing.postgres_url, photo_database)
        delete_bucket(backing.s3, bucket)
