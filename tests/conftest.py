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
from collections.abc import Iterator
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
from werkzeug.test import TestResponse

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
from tests.contract import assert_conforms

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SESSION_TAG = secrets.token_hex(4)


@pytest.fixture(scope="session")
def backing() -> Iterator[BackingServices]:
    """Real PostgreSQL and S3 for the whole test session."""
    state_dir = REPOSITORY_ROOT / ".snappy" / "test"
    state_dir.mkdir(parents=True, exist_ok=True)
    with provide_backing_services(state_dir, persistent=False) as services:
        yield services


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
    """Settings for a monolith on these resources, with a fresh signing key."""
    return Settings(
        database_url=sqlalchemy_url(resources.database_url),
        s3=S3Settings(
            bucket=resources.bucket,
            endpoint_url=backing.s3.endpoint_url,
            region=backing.s3.region,
            access_key_id=backing.s3.access_key_id,
            secret_access_key=backing.s3.secret_access_key,
        ),
        tokens=TokenSettings(private_key_pem=generate_private_key_pem()),
        secret_key=secrets.token_urlsafe(32),
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


@pytest.fixture(autouse=True)
def empty_state(request: pytest.FixtureRequest) -> None:
    """Start every test that uses the in-process monolith from empty tables and bucket."""
    if "app" in request.fixturenames:
        resources: MonolithResources = request.getfixturevalue("monolith_resources")
        backing_services: BackingServices = request.getfixturevalue("backing")
        _empty_database(resources.database_url)
        _empty_bucket(backing_services, resources.bucket)


def _empty_database(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE shares, photos, users RESTART IDENTITY CASCADE"))
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
    """The Flask test client, checking every response against the public contract."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
        """Send a request and validate the response against the OpenAPI document."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert_conforms(response)
        return response

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, token, **kwargs)

    def patch(self, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, token, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
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
    ) -> TestResponse:
        """Upload `data` as a photo."""
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename)}
        if caption:
            form["caption"] = caption
        if visibility is not None:
            form["visibility"] = visibility
        return self.post("/api/v1/photos", token, data=form, content_type="multipart/form-data")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A raw test client (no contract check), for pages and deliberately odd requests."""
    return app.test_client()


@pytest.fixture
def api(app: Flask) -> ApiClient:
    """A contract-checking API client."""
    return ApiClient(app.test_client())


@dataclass(frozen=True)
class LiveMonolith:
    """The monolith under gunicorn, as deployed, on its own database and bucket."""

    base_url: str
    resources: MonolithResources
    environment: dict[str, str]
    log_path: Path


def spawn_monolith(environment: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start gunicorn on a free port with `environment`; returns the process and its base URL."""
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "python:snappy_monolith.gunicorn_conf",
                "snappy_monolith.wsgi:app",
            ],
            env={**environment, "SNAPPY_BIND": f"127.0.0.1:{port}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(base_url, process, log_path)
    return process, base_url


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
    key_file.write_text(generate_private_key_pem())
    environment = {
        **os.environ,
        "SNAPPY_DATABASE_URL": resources.database_url,
        "SNAPPY_S3_BUCKET": resources.bucket,
        "SNAPPY_S3_ENDPOINT_URL": backing.s3.endpoint_url,
        "SNAPPY_S3_REGION": backing.s3.region,
        "SNAPPY_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
        "SNAPPY_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
        "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file),
        "SNAPPY_SECRET_KEY": secrets.token_urlsafe(32),
        "SNAPPY_THREADS": "4",
    }
    log_path = folder / "gunicorn.log"
    process, base_url = spawn_monolith(environment, log_path)
    try:
        yield LiveMonolith(base_url=base_url, resources=resources, environment=environment, log_path=log_path)
    finally:
        stop_process(process)
        release_monolith(backing, name, resources)


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
            pytest.fail(f"the monolith exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the monolith was not ready within {timeout} s:\n{log_path.read_text()[-4000:]}")


__all__ = [
    "ApiClient",
    "LiveMonolith",
    "MonolithResources",
    "free_port",
    "list_objects",
    "monolith_settings",
    "s3_client",
    "spawn_monolith",
    "stop_process",
    "wait_until_ready",
]
