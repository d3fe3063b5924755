"""Backing services in Docker containers through testcontainers, when a Docker engine answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snappy_devstack.errors import BackingServiceError, one_line
from snappy_devstack.s3 import S3Endpoint

__all__ = ["docker_engine_available", "minio_container", "postgres_container"]

POSTGRES_IMAGE = "postgres:17-alpine"
MINIO_IMAGE = "minio/minio:RELEASE.2022-12-02T19-19-22Z"
_POSTGRES_PASSWORD = "snappy-dev"  # noqa: S105 - a throwaway local container
_MINIO_ACCESS_KEY_ID = "snappy-dev"
# Only reachable through a port Docker publishes on the developer's machine.
_MINIO_SECRET_ACCESS_KEY = "snappy-dev-secret-key"  # noqa: S105


def docker_engine_available(timeout_seconds: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping within about `timeout_seconds`; never hangs."""
    answers: list[bool] = []

    def ping() -> None:
        try:
            # Imported on use: slow to import, and only needed when probing for Docker.
            import docker  # type: ignore[import-untyped]  # noqa: PLC0415

            client = docker.from_env(timeout=max(1, round(timeout_seconds)))
            try:
                answers.append(bool(client.ping()))
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - any failure means: no usable engine
            answers.append(False)

    # A daemon thread bounds the wait even when name resolution or a socket stalls.
    prober = threading.Thread(target=ping, name="docker-engine-probe", daemon=True)
    prober.start()
    prober.join(timeout_seconds + 0.5)
    return bool(answers) and answers[0]


@contextmanager
def postgres_container(workdir: Path, *, persistent: bool) -> Iterator[str]:
    """Run PostgreSQL in a container (data under `workdir` if persistent); yield its URL."""
    # Imported on use: slow to import, and only needed when containers run.
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415

    container = PostgresContainer(
        image=POSTGRES_IMAGE,
        username="postgres",
        password=_POSTGRES_PASSWORD,
        dbname="postgres",
        driver=None,
    )
    if persistent:
        data_dir = workdir / "containers" / "postgres"
        data_dir.mkdir(parents=True, exist_ok=True)
        container.with_volume_mapping(data_dir, "/var/lib/postgresql/data", "rw")
    try:
        container.start()
    except Exception as error:
        container.stop()
        raise BackingServiceError(
            f"cannot start the PostgreSQL container ({POSTGRES_IMAGE}): {one_line(error)}"
        ) from error
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@contextmanager
def minio_container(workdir: Path, *, persistent: bool) -> Iterator[S3Endpoint]:
    """Run MinIO in a container (data under `workdir` if persistent); yield its S3 endpoint."""
    from testcontainers.community.minio import MinioContainer  # noqa: PLC0415

    container = MinioContainer(
        image=MINIO_IMAGE, access_key=_MINIO_ACCESS_KEY_ID, secret_key=_MINIO_SECRET_ACCESS_KEY
    )
    if persistent:
        data_dir = workdir / "containers" / "minio"
        data_dir.mkdir(parents=True, exist_ok=True)
        container.with_volume_mapping(data_dir, "/data", "rw")
    try:
        container.start()
    except Exception as error:
        container.stop()
        raise BackingServiceError(
            f"cannot start the MinIO container ({MINIO_IMAGE}): {one_line(error)}"
        ) from error
    try:
        config = container.get_config()
        yield S3Endpoint(
            endpoint_url=f"http://{config['endpoint']}",
            region="us-east-1",
            access_key_id=_MINIO_ACCESS_KEY_ID,
            secret_access_key=_MINIO_SECRET_ACCESS_KEY,
        )
    finally:
        container.stop()
