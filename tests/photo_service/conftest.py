"""The photo service in-process, on its own database and bucket, beside a real user-service.

user-service runs on its own database in a thread, served over real HTTP by werkzeug, so
the photo service reaches it exactly as in a cluster: JWKS and user lookups over the
network. A middleware in front of it records every lookup call, and can fail the next
few, so tests can count calls and provoke retries.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from snappy_devstack.backing import BackingServices
from snappy_photo_service import create_app
from snappy_photo_service.__main__ import alembic_config
from snappy_photo_service.components import Components
from snappy_photo_service.config import S3Settings, Settings, UserServiceSettings
from snappy_photo_service.user_directory import LOOKUP_PATH
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_user_service import create_app as create_user_service
from snappy_user_service.__main__ import alembic_config as user_service_alembic_config
from snappy_user_service.config import Settings as UserServiceAppSettings
from snappy_user_service.config import TokenSettings as UserServiceTokenSettings
from tests.http_client import HttpTestClient
from tests.support.api_client import ApiClient
from tests.support.provisioning import migrated_database, new_bucket, s3_settings
from tests.support.session import SESSION_TAG
from tests.support.stores import empty_bucket, execute_sql

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "PROBLEMS",
    "LookupRecorder",
    "PhotoResources",
    "PhotoServiceClient",
    "RunningServer",
    "UserService",
    "photo_service",
    "serve",
    "user_service_app",
    "with_user_service",
]

PROBLEMS = "https://snappy.example/problems/"


class _OneRequestPerConnection(WSGIRequestHandler):
    # HTTP/1.0: every call opens a new connection, so a stopped server is really gone
    # instead of still answering on a kept-alive connection.
    protocol_version = "HTTP/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Keep the test output quiet."""


@dataclass
class RunningServer:
    """A WSGI app served over HTTP from a background thread."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop accepting connections and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def serve(app: WSGIApplication) -> RunningServer:
    """Serve `app` on a free local port until `stop`."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_OneRequestPerConnection)
    thread = threading.Thread(target=server.serve_forever, name="test-wsgi-server", daemon=True)
    thread.start()
    return RunningServer(url=f"http://127.0.0.1:{server.server_port}", server=server, thread=thread)


class LookupRecorder:
    """WSGI middleware: records the body and the request id of every user lookup."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._lookups: list[dict[str, Any]] = []
        self._request_ids: list[str | None] = []

    @property
    def lookups(self) -> list[dict[str, Any]]:
        """The bodies of the lookup calls received so far."""
        with self._lock:
            return list(self._lookups)

    @property
    def request_ids(self) -> list[str | None]:
        """The X-Request-ID each lookup call carried."""
        with self._lock:
            return list(self._request_ids)

    def clear(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._lookups.clear()
            self._request_ids.clear()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != LOOKUP_PATH:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            self._lookups.append(json.loads(body))
            self._request_ids.append(environ.get("HTTP_X_REQUEST_ID"))
        return self._app(environ, start_response)


@dataclass(frozen=True)
class UserService:
    """The real user-service, over HTTP, with its lookups recorded."""

    url: str
    recorder: LookupRecorder
    database_url: str
    signing_key_pem: str


@dataclass(frozen=True)
class PhotoResources:
    """The photo service's migrated database and its bucket."""

    database_url: str
    bucket: str


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    """The Ed25519 key user-service signs tokens with."""
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def user_service_database(backing: BackingServices) -> Iterator[str]:
    """user-service's migrated database."""
    with migrated_database(backing, f"snappy_ps_users_{SESSION_TAG}", user_service_alembic_config) as url:
        yield url


def user_service_app(database_url: str, signing_key_pem: str) -> Flask:
    """A user-service application on this database, signing with this key."""
    settings = UserServiceAppSettings(
        database_url=database_url, tokens=UserServiceTokenSettings(private_key_pem=signing_key_pem)
    )
    return create_user_service(settings)


@pytest.fixture(scope="session")
def user_service(user_service_database: str, signing_key_pem: str) -> Iterator[UserService]:
    """user-service for the whole session, served over HTTP."""
    recorder = LookupRecorder(user_service_app(user_service_database, signing_key_pem))
    running = serve(recorder)
    yield UserService(
        url=running.url,
        recorder=recorder,
        database_url=user_service_database,
        signing_key_pem=signing_key_pem,
    )
    running.stop()


@pytest.fixture(scope="session")
def photo_resources(backing: BackingServices) -> Iterator[PhotoResources]:
    """The photo service's database, migrated, and its bucket."""
    name = f"snappy_ps_photos_{SESSION_TAG}"
    with (
        migrated_database(backing, name, alembic_config) as url,
        new_bucket(backing, name.replace("_", "-")) as bucket,
    ):
        yield PhotoResources(database_url=url, bucket=bucket)


@pytest.fixture(scope="session")
def photo_settings(
    backing: BackingServices, photo_resources: PhotoResources, user_service: UserService
) -> Settings:
    """The photo service's settings: its resources, and the session's user-service."""
    return Settings(
        database_url=photo_resources.database_url,
        s3=s3_settings(S3Settings, backing, photo_resources.bucket),
        user_service=with_fast_retries(UserServiceSettings(url=user_service.url)),
    )


@contextmanager
def photo_service(settings: Settings) -> Iterator[Flask]:
    """A photo service app that releases its connections afterwards."""
    app = create_app(settings)
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        wired = Components.of(app)
        wired.users.close()
        wired.tokens.close()
        wired.database.dispose()


@pytest.fixture
def empty_services(
    backing: BackingServices, photo_resources: PhotoResources, user_service: UserService
) -> None:
    """Empty both services' tables and the bucket, and forget recorded lookups."""
    # Identities restart, so the same id names another user in the next test: every test
    # builds its own photo service, whose user cache starts empty.
    execute_sql(
        photo_resources.database_url, "TRUNCATE shares, photos, upload_requests RESTART IDENTITY CASCADE"
    )
    execute_sql(user_service.database_url, "TRUNCATE users RESTART IDENTITY CASCADE")
    empty_bucket(backing, photo_resources.bucket)
    user_service.recorder.clear()


@pytest.fixture
def photo_app(empty_services: None, photo_settings: Settings) -> Iterator[Flask]:
    """A fresh photo service on empty data."""
    with photo_service(photo_settings) as app:
        yield app


class PhotoServiceClient(ApiClient):
    """The public API's client on the photo service, with accounts made in user-service.

    Photo requests go through Flask's test client; sign-up and log-in go to user-service
    over HTTP. Every response is checked against the public contract.
    """

    def __init__(self, client: FlaskClient, user_service_url: str) -> None:
        super().__init__(client)
        self.accounts = ApiClient(HttpTestClient(user_service_url))

    def sign_up(
        self, username: str, password: str = "correct-horse", display_name: str | None = None
    ) -> dict[str, Any]:
        """Create a user in user-service; returns the user document."""
        return self.accounts.sign_up(username, password, display_name)

    def log_in(self, username: str, password: str = "correct-horse") -> str:
        """An access token from user-service."""
        return self.accounts.log_in(username, password)


@pytest.fixture
def api(photo_app: Flask, user_service: UserService) -> PhotoServiceClient:
    """A contract-checking client of the photo service (this folder's `api`)."""
    return PhotoServiceClient(photo_app.test_client(), user_service.url)


@pytest.fixture
def lookups(user_service: UserService) -> LookupRecorder:
    """The record of user lookups the photo service made."""
    return user_service.recorder


def with_fast_retries(directory: UserServiceSettings) -> UserServiceSettings:
    """The directory's settings with a short backoff between attempts: the tests' outages are short."""
    return replace(directory, calls=replace(directory.calls, backoff_seconds=0.01))


def with_user_service(settings: Settings, url: str, **changes: Any) -> Settings:
    """`settings` with another user-service address (and other policy of calls to it)."""
    directory = settings.user_service
    return replace(
        settings, user_service=replace(directory, url=url, calls=replace(directory.calls, **changes))
    )
