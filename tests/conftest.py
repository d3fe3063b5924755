"""Session-wide real backing services, and the monolith wired to them.

PostgreSQL and S3 come from `snappy_devstack.backing`: URLs from the environment,
containers where a Docker engine answers, embedded servers otherwise. Each test
session gets its own databases and buckets, dropped at the end.
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
    provide_backing_services,
)
from snappy_monolith import create_app
from snappy_monolith.__main__ import alembic_config
from snappy_monolith.config import S3Settings, Settings, TokenSettings, sqlalchemy_url
from snappy_monolith.tokens import generate_private_key_pem
from snappy_topology import EDGE_PHASE, PartName, part
from tests.contract import assert_conforms, assert_httpx_conforms
from tests.http_client import HttpTestClient, HttpTestResponse
from tests.support.dependency_faults import Faults, fault_proxies
from tests.support.parts import part_environment

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SESSION_TAG = secrets.token_hex(4)
# One signing key for every stack of the session: tokens pass between versions, as in production.
SIGNING_KEY_PEM = generate_private_key_pem()
# One session-cookie secret too: a browser session passes between the versions.
SESSION_SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def backing() -> Iterator[BackingServices]:
    """Real PostgreSQL and S3 for the whole test session."""
    state_dir = REPOSITORY_ROOT / ".snappy" / "test"
    state_dir.mkdir(parents=True, exist_ok=True)
    with provide_backing_services(state_dir, persistent=False) as services:
        yield services


@pytest.fixture
def faults(backing: BackingServices) -> Iterator[Faults]:
    """Fault-injecting proxies in front of the session's PostgreSQL and S3, passing for now."""
    with fault_proxies(backing) as proxies:
        yield proxies


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


def monolith_settings(backing: BackingServices, resources: MonolithResources) -> Settings:
    """Settings for a monolith on these resources, with the session's signing key."""
    return Settings(
        database_url=sqlalchemy_url(resources.database_url),
        s3=S3Settings(
            bucket=resources.bucket,
            endpoint_url=backing.s3.endpoint_url,
            region=backing.s3.region,
            access_key_id=backing.s3.access_key_id,
            secret_access_key=backing.s3.secret_access_key,
        ),
        tokens=TokenSettings(private_key_pem=SIGNING_KEY_PEM),
        secret_key=SESSION_SECRET,
    )


@pytest.fixture(scope="session")
def monolith_resources(backing: BackingServices) -> Iterator[MonolithResources]:
    """The database and bucket the in-process monolith uses."""
    name = f"snappy_test_{SESSION_TAG}"
    resources = provision_monolith(backing, name)
    yield resources
    release_monolith(backing, name, resources)


@pytest.fixture(scope="session")
def settings(backing: BackingServices, monolith_resources: MonolithResources) -> Settings:
    """The in-process monolith's settings."""
    return monolith_settings(backing, monolith_resources)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    """The monolith, built once for the session."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def execute_sql(database_url: str, statement: str) -> Any:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def _empty_bucket(backing_services: BackingServices, bucket: str) -> None:
    for key in list_objects(backing_services, bucket):
        s3_client(backing_services).delete_object(Bucket=bucket, Key=key)


def s3_client(backing_services: BackingServices) -> Any:
    """A boto3 client on the session's S3 endpoint."""
    return boto3.client(
        "s3",
        endpoint_url=backing_services.s3.endpoint_url,
        region_name=backing_services.s3.region,
        aws_access_key_id=backing_services.s3.access_key_id,
        aws_secret_access_key=backing_services.s3.secret_access_key,
    )


def list_objects(backing_services: BackingServices, bucket: str) -> list[str]:
    """Every key in `bucket`."""
    paginator = s3_client(backing_services).get_paginator("list_objects_v2")
    return [item["Key"] for page in paginator.paginate(Bucket=bucket) for item in page.get("Contents", [])]


class ApiClient:
    """A client of the public API, checking every response against the OpenAPI document.

    It drives the in-process monolith through Flask's test client, or a stack over real
    HTTP through `HttpTestClient`; tests read both kinds of response the same way.
    """

    def __init__(self, client: FlaskClient | HttpTestClient) -> None:
        self.client = client

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """Send a request and validate the response against the OpenAPI document."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        if isinstance(response, HttpTestResponse):
            assert_httpx_conforms(response.raw)
        else:
            assert_conforms(response)
        return response

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("POST", path, token, **kwargs)

    def patch(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, token, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("DELETE", path, token, **kwargs)

    def sign_up(
        self, username: str, password: str = "correct-horse", display_name: str | None = None
    ) -> dict[str, Any]:
        """Create a user; returns the user document."""
        response = self.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": password,
                "display_name": display_name or username.title(),
            },
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def log_in(self, username: str, password: str = "correct-horse") -> str:
        """An access token for this user."""
        response = self.post("/api/v1/tokens", json={"username": username, "password": password})
        assert response.status_code == 201, response.get_data(as_text=True)
        token: str = response.get_json()["access_token"]
        return token

    def user_with_token(self, username: str) -> str:
        """Sign up and log in; returns the token."""
        self.sign_up(username)
        return self.log_in(username)

    def upload(
        self,
        token: str,
        data: bytes,
        caption: str = "",
        visibility: str | None = None,
        filename: str = "photo.jpg",
    ) -> Any:
        """Upload `data` as a photo."""
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename)}
        if caption:
            form["caption"] = caption
        if visibility is not None:
            form["visibility"] = visibility
        return self.post("/api/v1/photos", token, data=form, content_type="multipart/form-data")


@dataclass(frozen=True)
class StackUnderTest:
    """One version of Snappy, as the API tests see it: a client, and its data to inspect."""

    name: str
    backing: BackingServices
    make_client: Callable[[], FlaskClient | HttpTestClient]
    # database URL -> the statement that empties it
    emptying_statements: dict[str, str]
    photo_database_url: str
    bucket: str

    def reset(self) -> None:
        """Delete every row and object, so a test starts from an empty Snappy."""
        for database_url, statement in self.emptying_statements.items():
            execute_sql(database_url, statement)
        _empty_bucket(self.backing, self.bucket)

    def object_keys(self) -> list[str]:
        """Every key in the stack's bucket."""
        return list_objects(self.backing, self.bucket)

    def photo_count(self) -> int:
        """How many photo rows the stack holds."""
        count: int = execute_sql(self.photo_database_url, "SELECT count(*) FROM photos")
        return count


@pytest.fixture(scope="session")
def monolith_stack(
    app: Flask, backing: BackingServices, monolith_resources: MonolithResources
) -> StackUnderTest:
    """The monolith, in process."""
    return StackUnderTest(
        name="monolith",
        backing=backing,
        make_client=app.test_client,
        emptying_statements={
            monolith_resources.database_url: (
                "TRUNCATE shares, photos, users, login_throttle, revoked_tokens, upload_requests"
                " RESTART IDENTITY CASCADE"
            )
        },
        photo_database_url=monolith_resources.database_url,
        bucket=monolith_resources.bucket,
    )


STACKS = ["monolith", "microservices"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> StackUnderTest:
    """Each version of Snappy in turn, emptied before the test."""
    chosen: StackUnderTest = request.getfixturevalue(f"{request.param}_stack")
    chosen.reset()
    return chosen


@pytest.fixture
def api(stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of each version of Snappy in turn."""
    return ApiClient(stack.make_client())


@pytest.fixture
def monolith_api(monolith_stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of the in-process monolith, emptied before the test."""
    monolith_stack.reset()
    return ApiClient(monolith_stack.make_client())


@pytest.fixture
def client(monolith_stack: StackUnderTest) -> FlaskClient:
    """A raw test client of the emptied monolith (no contract check), for pages and odd requests."""
    monolith_stack.reset()
    flask_client = monolith_stack.make_client()
    assert isinstance(flask_client, FlaskClient)
    return flask_client


@dataclass(frozen=True)
class LiveMonolith:
    """The monolith under gunicorn, as deployed, on its own database and bucket."""

    base_url: str
    resources: MonolithResources
    environment: dict[str, str]
    log_path: Path


def launch_gunicorn(
    package: str, environment: dict[str, str], port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `package` under gunicorn on `port`, logging to `log_path`, without waiting for it."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                f"python:{package}.gunicorn_conf",
                f"{package}.wsgi:app",
            ],
            # Unbuffered: master and workers share the log file, and each record must be
            # one write, or lines from two processes interleave mid-line.
            env={**environment, "SNAPPY_BIND": f"127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def spawn_gunicorn(
    package: str, environment: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `package` under gunicorn on a free port; returns the process and its base URL."""
    port = free_port()
    process = launch_gunicorn(package, environment, port, log_path)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(base_url, process, log_path)
    return process, base_url


def spawn_part(
    name: PartName,
    backing: BackingServices,
    log_path: Path,
    *,
    base: Mapping[str, str],
    peers: Mapping[PartName, str] | None = None,
    database_url: str | None = None,
    bucket: str | None = None,
    key_file: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start part `name` under gunicorn on a free port, wired by the topology; wait until it is ready."""
    port = free_port()
    environment = part_environment(
        name,
        backing,
        port=port,
        base=base,
        peers=peers,
        database_url=database_url,
        bucket=bucket,
        key_file=key_file,
        session_secret=SESSION_SECRET,
    )
    process = launch_gunicorn(part(name).package, environment, port, log_path)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(base_url, process, log_path)
    return process, base_url


def spawn_monolith(environment: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the monolith under gunicorn."""
    return spawn_gunicorn("snappy_monolith", environment, log_path)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture(scope="session")
def live_monolith(
    backing: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMonolith]:
    """Run the monolith under gunicorn for tests that talk HTTP to it (contract fuzzing, browser)."""
    name = f"snappy_live_{SESSION_TAG}"
    resources = provision_monolith(backing, name)
    folder = tmp_path_factory.mktemp("live-monolith")
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
    process, base_url = spawn_monolith(environment, log_path)
    try:
        yield LiveMonolith(base_url=base_url, resources=resources, environment=environment, log_path=log_path)
    finally:
        stop_process(process)
        release_monolith(backing, name, resources)


# How often the live photo-service and web-ui fetch the revoked tokens (seconds).
REVOCATION_TTL_SECONDS = 0.2


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


def migrate(package: str, database_url: str) -> None:
    """Apply a deployable's migrations, as its deployment does: `python -m <package> migrate`."""
    subprocess.run(
        [sys.executable, "-m", package, "migrate"],
        env={**os.environ, "SNAPPY_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


@dataclass(frozen=True)
class MicroservicesUrls:
    """Where a started set of microservices answers."""

    edge_url: str
    user_service_url: str
    photo_service_url: str
    web_ui_url: str


def spawn_microservices(
    backing: BackingServices,
    common: dict[str, str],
    *,
    user_database_url: str,
    photo_database_url: str,
    bucket: str,
    key_file: Path,
    log_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> MicroservicesUrls:
    """Start user-service, photo-service, web-ui and the edge (phase 3) on these stores, in order.

    Each is wired by the topology, as `snappy up` wires it. Each process joins `processes` as
    soon as it starts, so the caller stops every one that started even when a later one fails.
    """
    user_process, user_url = spawn_part(
        PartName.USER_SERVICE,
        backing,
        log_path,
        base=common,
        database_url=user_database_url,
        key_file=key_file,
    )
    processes.append(user_process)
    services = {PartName.USER_SERVICE: user_url}
    photo_process, photo_url = spawn_part(
        PartName.PHOTO_SERVICE,
        backing,
        log_path,
        base=common,
        peers=services,
        database_url=photo_database_url,
        bucket=bucket,
    )
    processes.append(photo_process)
    services[PartName.PHOTO_SERVICE] = photo_url
    web_process, web_url = spawn_part(PartName.WEB_UI, backing, log_path, base=common, peers=services)
    processes.append(web_process)
    edge_process, edge_url = spawn_part(
        PartName.EDGE,
        backing,
        log_path,
        base={**common, EDGE_PHASE: "3"},
        peers={**services, PartName.WEB_UI: web_url},
    )
    processes.append(edge_process)
    return MicroservicesUrls(edge_url, user_url, photo_url, web_url)


@pytest.fixture(scope="session")
def live_microservices(
    backing: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMicroservices]:
    """Run the microservices and their edge under gunicorn, as `snappy up` does."""
    folder = tmp_path_factory.mktemp("live-microservices")
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
            stop_process(process)
        drop_database(backing.postgres_url, user_database)
        drop_database(backing.postgres_url, photo_database)
        delete_bucket(backing.s3, bucket)


@pytest.fixture(scope="session")
def microservices_stack(backing: BackingServices, live_microservices: LiveMicroservices) -> StackUnderTest:
    """The microservices behind their edge, over HTTP."""
    return StackUnderTest(
        name="microservices",
        backing=backing,
        make_client=lambda: HttpTestClient(live_microservices.edge_url),
        # Ids are not restarted: photo-service caches id -> username, and ids are never reused.
        emptying_statements={
            live_microservices.user_database_url: "TRUNCATE users, login_throttle, revoked_tokens",
            live_microservices.photo_database_url: "TRUNCATE shares, photos, upload_requests",
        },
        photo_database_url=live_microservices.photo_database_url,
        bucket=live_microservices.bucket,
    )


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    """Poll /readyz until it answers 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{base_url} exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{base_url} was not ready within {timeout} s:\n{log_path.read_text()[-4000:]}")


__all__ = [
    "ApiClient",
    "LiveMicroservices",
    "LiveMonolith",
    "MonolithResources",
    "StackUnderTest",
    "free_port",
    "launch_gunicorn",
    "list_objects",
    "monolith_settings",
    "s3_client",
    "spawn_gunicorn",
    "spawn_monolith",
    "stop_process",
    "wait_until_ready",
]
