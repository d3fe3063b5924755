"""Both versions of Snappy under gunicorn, as deployed, for tests that talk HTTP to them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from snappy_devstack.backing import BackingServices
from snappy_topology import PartName, part
from tests.support.container_images import (
    image_stores,
    images_selected,
    spawn_microservices_from_images,
)
from tests.support.gunicorn import spawn_monolith, stopped_on_exit
from tests.support.parts import MicroservicesUrls, part_environment, spawn_microservices
from tests.support.provisioning import (
    MicroservicesStores,
    MonolithResources,
    microservices_stores,
    provisioned_monolith,
)
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


@dataclass(frozen=True)
class LiveMonolith(MonolithResources):
    """The monolith under gunicorn, as deployed.

    Where it answers, its own database and bucket, and what it runs with.
    """

    base_url: str
    environment: dict[str, str]
    log_path: Path


@contextmanager
def running_monolith(backing: BackingServices, folder: Path, *, name: str = "") -> Iterator[LiveMonolith]:
    """The monolith under gunicorn on a database and bucket of its own; all gone afterwards.

    `name` names them (default: the session's one live monolith); a test that needs users
    no other test has touched runs one of its own under another name.
    """
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    log_path = folder / "gunicorn.log"
    with (
        provisioned_monolith(backing, name or f"snappy_live_{SESSION_TAG}") as resources,
        stopped_on_exit() as processes,
    ):
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
        process, base_url = spawn_monolith(environment, log_path)
        processes.append(process)
        yield LiveMonolith(**asdict(resources), base_url=base_url, environment=environment, log_path=log_path)


@dataclass(frozen=True)
class LiveMicroservices(MicroservicesUrls, MicroservicesStores):
    """user-service, photo-service, web-ui and the edge (phase 3) under gunicorn.

    Where they answer, the stores they run on, and what they run with.
    """

    # What every part of the stack runs with beyond its topology settings (e.g. SNAPPY_THREADS).
    environment: dict[str, str]
    key_file: Path
    log_path: Path

    @property
    def part_urls(self) -> dict[PartName, str]:
        """Where each part of the stack answers."""
        return {
            PartName.USER_SERVICE: self.user_service_url,
            PartName.PHOTO_SERVICE: self.photo_service_url,
            PartName.WEB_UI: self.web_ui_url,
            PartName.EDGE: self.edge_url,
        }

    def environment_of(self, name: PartName, backing: BackingServices, port: int) -> dict[str, str]:
        """The environment of one more instance of part `name` on port `port`, on this stack's stores."""
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
            peers={
                peer.name: self.part_urls[peer.name]
                for peer in described.peers
                if peer.name in self.part_urls
            },
            database_url=databases.get(name),
            bucket=self.bucket if described.bucket is not None else None,
            key_file=self.key_file,
            session_secret=SESSION_SECRET,
        )


@contextmanager
def running_microservices(backing: BackingServices, folder: Path) -> Iterator[LiveMicroservices]:
    """The microservices and their edge under gunicorn, as `snappy up` runs them, on stores of their own.

    With SNAPPY_IMAGE_TESTS=1 they run from their images instead, migrated by their images too.
    """
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    log_path = folder / "services.log"
    common = {
        **os.environ,
        "SNAPPY_THREADS": "4",
        # Revocations reach photo-service and web-ui this soon, so tests need not wait long.
        "SNAPPY_REVOCATION_TTL_SECONDS": str(REVOCATION_TTL_SECONDS),
    }
    if images_selected():
        with (
            image_stores(backing, "snappy", log_path) as stores,
            ExitStack() as containers,
        ):
            urls = spawn_microservices_from_images(
                backing, common, stores, key_file=key_file, log_path=log_path, stack=containers
            )
            yield LiveMicroservices(
                **asdict(urls), **asdict(stores), environment=common, key_file=key_file, log_path=log_path
            )
        return
    with microservices_stores(backing, "snappy") as stores, stopped_on_exit() as processes:
        urls = spawn_microservices(
            backing,
            common,
            user_database_url=stores.user_database_url,
            photo_database_url=stores.photo_database_url,
            bucket=stores.bucket,
            key_file=key_file,
            log_path=log_path,
            processes=processes,
        )
        yield LiveMicroservices(
            **asdict(urls), **asdict(stores), environment=common, key_file=key_file, log_path=log_path
        )
