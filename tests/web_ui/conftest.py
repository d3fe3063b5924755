"""web-ui in-process (Flask's test client), in front of the live user-service and photo-service.

Each test gets a fresh web-ui (empty caches) on emptied services, signing session
cookies with the in-process monolith's secret, as in production during the migration.
Resilience tests run their own service processes, on a fixed port, so they can stop
them and start them again where web-ui expects them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from snappy_devstack.backing import BackingServices
from snappy_devstack.processes import stop_process
from snappy_monolith.config import Settings as MonolithSettings
from snappy_topology import PartName
from snappy_web_ui import create_app
from snappy_web_ui.config import PeerSettings, Settings
from tests.support.api_client import ApiClient
from tests.support.gunicorn import wait_until_ready
from tests.support.live import LiveMicroservices
from tests.support.versions import StackUnderTest

__all__ = [
    "ServiceProcess",
    "csrf_token",
    "log_in_in_browser",
    "photo_service_environment",
    "sign_up_in_browser",
    "user_service_environment",
    "web_ui_settings",
]


def web_ui_settings(
    user_service_url: str,
    photo_service_url: str,
    secret_key: str,
    read_timeout_seconds: float | None = None,
) -> Settings:
    """Settings of a web-ui in front of these services (optionally with a shorter read timeout)."""
    peers = PeerSettings(user_service_url=user_service_url, photo_service_url=photo_service_url)
    if read_timeout_seconds is not None:
        peers = replace(peers, read_timeout_seconds=read_timeout_seconds)
    return Settings(peers=peers, secret_key=secret_key)


def build_web_ui(settings: Settings) -> Flask:
    """A web-ui app in test mode."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def services_api(microservices_stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of the emptied microservices, through their edge."""
    microservices_stack.reset()
    return ApiClient(microservices_stack.make_client())


@pytest.fixture
def web_ui(live_microservices: LiveMicroservices, settings: MonolithSettings) -> Flask:
    """A fresh web-ui in front of the live services, with the monolith's session secret."""
    assert settings.secret_key is not None
    return build_web_ui(
        web_ui_settings(
            live_microservices.user_service_url, live_microservices.photo_service_url, settings.secret_key
        )
    )


@pytest.fixture
def browser(web_ui: Flask, services_api: ApiClient) -> FlaskClient:
    """A browser on web-ui, on emptied services."""
    return web_ui.test_client()


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_up_in_browser(client: FlaskClient, username: str) -> None:
    """Sign up through the sign-up form; the client is signed in afterwards."""
    token = csrf_token(client.get("/signup").get_data(as_text=True))
    response = client.post(
        "/signup",
        data={
            "username": username,
            "display_name": username.title(),
            "password": "correct-horse",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def log_in_in_browser(client: FlaskClient, username: str, password: str = "correct-horse") -> None:
    """Log in through the login form."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def photo_service_environment(live: LiveMicroservices, backing: BackingServices, port: int) -> dict[str, str]:
    """photo-service's variables, on the live services' database, bucket and user-service."""
    return live.environment_of(PartName.PHOTO_SERVICE, backing, port)


def user_service_environment(live: LiveMicroservices, backing: BackingServices, port: int) -> dict[str, str]:
    """user-service's variables, on the live services' user database and signing key."""
    return live.environment_of(PartName.USER_SERVICE, backing, port)


class ServiceProcess:
    """A service under gunicorn on a fixed port, which a test can stop and start again."""

    def __init__(self, package: str, environment: dict[str, str], port: int, log_path: Path) -> None:
        self.package = package
        self.environment = environment
        self.base_url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start gunicorn and wait until the service is ready."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-c",
                    f"python:{self.package}.gunicorn_conf",
                    f"{self.package}.wsgi:app",
                ],
                env={
                    **self.environment,
                    "SNAPPY_BIND": f"127.0.0.1:{self.port}",
                    "SNAPPY_GRACEFUL_TIMEOUT": "5",
                    "PYTHONUNBUFFERED": "1",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_ready(self.base_url, self.process, self.log_path)

    def stop(self) -> None:
        """SIGTERM, and wait until the process has exited."""
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, grace_seconds=30)
        self.process = None


@pytest.fixture
def service_processes() -> Iterator[list[ServiceProcess]]:
    """Service processes a test starts; whatever still runs is stopped afterwards."""
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop()
