"""Every image, started from the image (not the source tree) on the session's PostgreSQL and S3.

Collected only with SNAPPY_IMAGE_TESTS=1 (tests/conftest.py), as .ci/run does after
`./snappy images build`; an image missing from the engine's storage is built first. How the
containers run (buildah, read-only root, tmpfs at the declared paths):
tests/support/container_images.py.

Each server (monolith, user-service, photo-service, web-ui, edge) answers /readyz, its
HEALTHCHECK passes, every process in it runs as uid 10001, its root is read-only and only
the paths its image declares are writable, and it keeps working when a request makes it
write (a photo large enough to be spooled to disk, through the edge's nginx). Each job runs
to completion the same way: the schema migration of every part with a database (its part's
image, another command), and the data migration (`snappy-migrate run`).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from snappy_devstack.backing import BackingServices
from snappy_devstack.images import IMAGES, build_images, image_reference
from snappy_devstack.processes import free_ports
from snappy_topology import PartName, part
from tests.http_client import HttpTestClient
from tests.support.api_client import ApiClient
from tests.support.container_images import (
    BUILDAH_RUNTIME_PATH,
    IMAGE_TAG,
    RunningContainer,
    image_config,
    image_of,
    image_stores,
    migrate_from_image,
    run_job,
    secrets_folder,
    spawn_microservices_from_images,
    spawn_part_from_image,
)
from tests.support.parts import part_environment
from tests.support.provisioning import new_bucket, new_database
from tests.support.session import REPOSITORY_ROOT, SESSION_SECRET, SESSION_TAG, SIGNING_KEY_PEM
from tests.support.stores import execute_sql

RUNTIME_UID = 10001
RUNTIME_USER = "10001:10001"
SERVERS = [PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI, PartName.EDGE]
WITH_DATABASE = [name for name in SERVERS if part(name).database is not None]
# Mounts a container always has beside its root and the writable paths: kernel file systems,
# and the files an engine writes for each container (Kubernetes mounts the first three too).
KERNEL_MOUNTS = ("/proc", "/sys", "/dev")
ENGINE_FILES = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"})
# Above the 1 MiB the services' gunicorn worker keeps in memory: the body is spooled to /tmp.
SPOOLED_UPLOAD_PIXELS = (1400, 1000)


@pytest.fixture(scope="module")
def images() -> None:
    """Every image under test in the engine's storage: those missing are built (on a warm cache, quickly)."""
    missing = [spec.name for spec in IMAGES if not _image_present(image_reference(spec, IMAGE_TAG))]
    if missing:
        build_images(only=missing, tag=IMAGE_TAG)


def _image_present(reference: str) -> bool:
    try:
        image_config(reference)
    except Exception:  # noqa: BLE001 - absent, whatever buildah says about it
        return False
    return True


@dataclass(frozen=True)
class ImageStack:
    """The monolith and the phase-3 microservices, each from its image, and where each answers."""

    containers: dict[PartName, RunningContainer]
    urls: dict[PartName, str]
    log_path: Path
    monolith_database_url: str
    monolith_bucket: str


@pytest.fixture(scope="module")
def image_stack(
    images: None, backing: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageStack]:
    """Every server from its image, migrated by its image, on stores of its own."""
    folder = tmp_path_factory.mktemp("image-stack")
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    log_path = folder / "containers.log"
    containers: dict[PartName, RunningContainer] = {}
    monolith_database = f"snappy_image_monolith_{SESSION_TAG}"
    with (
        new_database(backing, monolith_database) as monolith_database_url,
        new_bucket(backing, monolith_database.replace("_", "-")) as monolith_bucket,
        image_stores(backing, "snappy_image", log_path) as stores,
        ExitStack() as stack,
    ):
        migrate_from_image(PartName.MONOLITH, monolith_database_url, log_path)
        [monolith_port] = free_ports(1)
        containers[PartName.MONOLITH], monolith_url = spawn_part_from_image(
            PartName.MONOLITH,
            part_environment(
                PartName.MONOLITH,
                backing,
                port=monolith_port,
                base={},
                database_url=monolith_database_url,
                bucket=monolith_bucket,
                key_file=key_file,
                session_secret=SESSION_SECRET,
            ),
            log_path,
            stack,
            secrets_dir=secrets_folder(key_file, folder),
        )
        urls = spawn_microservices_from_images(
            backing, {}, stores, key_file=key_file, log_path=log_path, stack=stack, containers=containers
        )
        yield ImageStack(
            containers,
            {
                PartName.MONOLITH: monolith_url,
                PartName.USER_SERVICE: urls.user_service_url,
                PartName.PHOTO_SERVICE: urls.photo_service_url,
                PartName.WEB_UI: urls.web_ui_url,
                PartName.EDGE: urls.edge_url,
            },
            log_path,
            monolith_database_url,
            monolith_bucket,
        )


def writable_mounts(mounts: dict[str, str]) -> set[str]:
    """The mount points mounted read-write, kernel file systems left out."""
    return {
        point
        for point, options in mounts.items()
        if options.split(",")[0] == "rw"
        and point not in ENGINE_FILES
        and not any(point == kernel or point.startswith(f"{kernel}/") for kernel in KERNEL_MOUNTS)
    }


@pytest.mark.parametrize("name", SERVERS)
def test_each_server_answers_readyz_from_its_image(image_stack: ImageStack, name: PartName) -> None:
    running = image_stack.containers[name]

    response = httpx.get(f"{image_stack.urls[name]}/readyz", timeout=10.0)

    assert response.status_code == 200, response.text
    assert running.reference == image_reference(image_of(name), IMAGE_TAG)
    inside = running.processes()
    assert inside, f"no process inside {name}'s container"
    # From the image, not the source tree: nothing of the repository is mounted into it.
    for process in inside:
        assert not any(str(REPOSITORY_ROOT) in point for point in process.mounts())


@pytest.mark.parametrize("name", SERVERS)
def test_each_server_runs_as_its_non_root_uid(image_stack: ImageStack, name: PartName) -> None:
    running = image_stack.containers[name]

    assert image_config(running.reference).user == RUNTIME_USER
    for process in running.processes():
        assert process.uids() == (RUNTIME_UID,) * 4, process.pid


@pytest.mark.parametrize("name", SERVERS)
def test_each_server_has_a_read_only_root_and_only_its_declared_paths_writable(
    image_stack: ImageStack, name: PartName
) -> None:
    running = image_stack.containers[name]
    declared = set(image_config(running.reference).writable_paths)

    for process in running.processes():
        mounts = process.mounts()
        assert mounts["/"].split(",")[0] == "ro"
        assert writable_mounts(mounts) == declared | {BUILDAH_RUNTIME_PATH}


@pytest.mark.parametrize("name", SERVERS)
def test_each_servers_healthcheck_passes(image_stack: ImageStack, name: PartName) -> None:
    reference = image_reference(image_of(name), IMAGE_TAG)
    inspected = image_config(reference)
    bind = f"127.0.0.1:{image_stack.urls[name].rpartition(':')[2]}"
    probe = _healthcheck(reference)

    finished = run_job(reference, {"SNAPPY_BIND": bind}, image_stack.log_path, command=probe)

    assert finished.returncode == 0, finished.output
    assert inspected.labels["org.opencontainers.image.title"]


def _healthcheck(reference: str) -> list[str]:
    """The image's HEALTHCHECK command."""
    inspected = subprocess.run(
        ["buildah", "inspect", "--type", "image", reference], capture_output=True, text=True, check=True
    )
    test = json.loads(inspected.stdout)["Docker"]["config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD", test
    return [str(word) for word in test[1:]]


def test_the_stack_writes_only_where_declared_while_serving_a_large_upload(image_stack: ImageStack) -> None:
    api = ApiClient(HttpTestClient(image_stack.urls[PartName.EDGE]))
    token = api.user_with_token(f"imaged{SESSION_TAG}")
    photo = _noisy_jpeg(SPOOLED_UPLOAD_PIXELS)
    assert len(photo) > 1024 * 1024

    uploaded = api.upload(token, photo, caption="spooled")
    assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    photo_id = uploaded.get_json()["id"]
    original = api.get(f"/api/v1/photos/{photo_id}/content", token)

    assert original.status_code == 200
    assert original.get_data() == photo
    for name in SERVERS:
        response = httpx.get(f"{image_stack.urls[name]}/readyz", timeout=10.0)
        assert response.status_code == 200, f"{name}: {response.text}"


def _noisy_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG of random pixels: it does not compress, so it is large."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("name", WITH_DATABASE)
def test_each_schema_migration_runs_from_its_part_image(
    images: None, backing: BackingServices, tmp_path: Path, name: PartName
) -> None:
    described = part(name)
    migration = described.schema_migration
    assert migration is not None
    with new_database(backing, f"snappy_image_schema_{SESSION_TAG}") as database_url:
        finished = run_job(
            image_reference(image_of(name), IMAGE_TAG),
            {"SNAPPY_DATABASE_URL": database_url},
            tmp_path / "migration.log",
            command=[migration.program, *migration.arguments],
        )

        assert finished.returncode == 0, finished.output
        assert finished.uids == {(RUNTIME_UID,) * 4}
        assert finished.mounts["/"].split(",")[0] == "ro"
        versions = execute_sql(
            database_url,
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'alembic_version%'",
        )
        assert versions == 1


def test_the_data_migration_runs_from_its_image(
    image_stack: ImageStack, backing: BackingServices, tmp_path: Path
) -> None:
    monolith = ApiClient(HttpTestClient(image_stack.urls[PartName.MONOLITH]))
    username = f"moved{SESSION_TAG}"
    monolith.sign_up(username)
    log_path = tmp_path / "data-migration.log"
    with image_stores(backing, "snappy_image_target", log_path) as targets:
        reference = image_reference(image_of("data-migration"), IMAGE_TAG)
        environment = {
            "SNAPPY_MIGRATE_SOURCE_DATABASE_URL": image_stack.monolith_database_url,
            "SNAPPY_MIGRATE_USERS_DATABASE_URL": targets.user_database_url,
            "SNAPPY_MIGRATE_PHOTOS_DATABASE_URL": targets.photo_database_url,
            "SNAPPY_MIGRATE_S3_ENDPOINT_URL": backing.s3.endpoint_url,
            "SNAPPY_MIGRATE_S3_REGION": backing.s3.region,
            "SNAPPY_MIGRATE_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
            "SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
            "SNAPPY_MIGRATE_SOURCE_BUCKET": image_stack.monolith_bucket,
            "SNAPPY_MIGRATE_TARGET_BUCKET": targets.bucket,
        }

        finished = run_job(reference, environment, log_path)

        assert finished.returncode == 0, finished.output
        assert finished.uids == {(RUNTIME_UID,) * 4}
        assert writable_mounts(finished.mounts) == set(image_config(reference).writable_paths) | {
            BUILDAH_RUNTIME_PATH
        }
        moved = execute_sql(
            targets.user_database_url,
            "SELECT count(*) FROM users WHERE username = :username",
            {"username": username},
        )
        assert moved == 1
