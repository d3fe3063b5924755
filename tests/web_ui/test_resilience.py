"""web-ui when a service it calls is down, hung, or back: a degraded page, never a hang.

Each test runs its own service process under gunicorn, on the live services' data, so it
can stop it (SIGTERM) and start it again on the same port while the other services of
the session keep running.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from snappy_devstack.backing import BackingServices
from snappy_devstack.processes import free_ports
from snappy_monolith.config import Settings as MonolithSettings
from snappy_topology import PartName, part
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.forms import csrf_token, log_in_in_browser
from tests.support.live import LiveMicroservices
from tests.support.web_ui import build_web_ui, web_ui_settings
from tests.web_ui.conftest import ServiceProcess

CONNECT_TIMEOUT_SECONDS = 1.0
# Retries of a refused connection (0.1 s + 0.2 s of backoff) and rendering, on a slow machine.
MARGIN_SECONDS = 1.5
DEGRADED_MESSAGE = "Photos are temporarily unavailable, try again in a moment"


def share_with_bob(services_api: ApiClient, owner: str, caption: str) -> int:
    """`owner` signs up, uploads a photo and shares it with bob; returns its id."""
    token = services_api.user_with_token(owner)
    photo_id: int = services_api.upload(token, image_bytes(), caption=caption).get_json()["id"]
    response = services_api.post(f"/api/v1/photos/{photo_id}/shares", token, json={"username": "bob"})
    assert response.status_code == 201
    return photo_id


def timed_get(client: FlaskClient, path: str) -> tuple[int, str, float]:
    """Status, body and seconds taken of a GET."""
    started = time.monotonic()
    response = client.get(path)
    return response.status_code, response.get_data(as_text=True), time.monotonic() - started


def assert_degraded(status: int, page: str) -> None:
    """The degraded page: 503, the normal layout, the message."""
    assert status == 503
    assert 'data-testid="degraded"' in page
    assert DEGRADED_MESSAGE in page
    assert 'class="site-header"' in page
    assert "Traceback" not in page


# Starts a process of a service for the test alone; the test may stop it and start it again.
OwnService = Callable[[PartName], ServiceProcess]


@pytest.fixture
def own_service(
    live_microservices: LiveMicroservices,
    backing: BackingServices,
    service_processes: list[ServiceProcess],
    tmp_path: Path,
) -> OwnService:
    """A service of this test's own, started, on the live services' stores and signing key."""

    def start(name: PartName) -> ServiceProcess:
        port = free_ports(1)[0]
        environment = live_microservices.environment_of(name, backing, port)
        process = ServiceProcess(part(name).package, environment, port, tmp_path / f"{name}.log")
        service_processes.append(process)
        process.start()
        return process

    return start


@pytest.fixture
def own_photo_service(
    own_service: OwnService, live_microservices: LiveMicroservices, settings: MonolithSettings
) -> tuple[Flask, ServiceProcess]:
    """A web-ui in front of the live user-service and of a photo-service of this test's own."""
    assert settings.secret_key is not None
    photo_service = own_service(PartName.PHOTO_SERVICE)
    web_ui = build_web_ui(
        web_ui_settings(live_microservices.user_service_url, photo_service.base_url, settings.secret_key)
    )
    return web_ui, photo_service


def test_photo_service_down_degrades_the_feed_and_it_recovers(
    own_photo_service: tuple[Flask, ServiceProcess], services_api: ApiClient
) -> None:
    web_ui, photo_service = own_photo_service
    services_api.sign_up("bob")
    photo_id = share_with_bob(services_api, "alice", "Before the outage")
    bob = web_ui.test_client()
    log_in_in_browser(bob, "bob")
    assert "Before the outage" in bob.get("/").get_data(as_text=True)

    photo_service.stop()
    status, page, seconds = timed_get(bob, "/")

    assert_degraded(status, page)
    assert seconds < CONNECT_TIMEOUT_SECONDS + MARGIN_SECONDS
    assert 'data-testid="current-user">bob<' in page
    assert bob.get(f"/photos/{photo_id}/thumb").status_code == 503
    assert bob.get("/readyz").status_code == 200

    photo_service.start()
    status, page, _ = timed_get(bob, "/")

    assert status == 200
    assert "Before the outage" in page
    assert bob.get(f"/photos/{photo_id}/thumb").status_code == 200


def test_an_upload_while_photo_service_is_down_is_a_degraded_page(
    own_photo_service: tuple[Flask, ServiceProcess], services_api: ApiClient
) -> None:
    web_ui, photo_service = own_photo_service
    services_api.sign_up("alice")
    alice = web_ui.test_client()
    log_in_in_browser(alice, "alice")
    token = csrf_token(alice.get("/upload").get_data(as_text=True))
    photo_service.stop()

    response = alice.post(
        "/upload",
        data={"file": (io.BytesIO(image_bytes()), "photo.jpg"), "csrf_token": token},
        content_type="multipart/form-data",
    )

    assert_degraded(response.status_code, response.get_data(as_text=True))


def test_user_service_down_keeps_a_signed_in_feed_with_known_owners(
    own_service: OwnService,
    live_microservices: LiveMicroservices,
    settings: MonolithSettings,
    services_api: ApiClient,
) -> None:
    """The token is verified from the cached JWKS and photo-service needs no web-ui help, but
    the feed shows each owner's display name, which comes from user-service: owners seen
    before are cached and render (200); a new owner makes the feed a degraded page (503).
    """
    assert settings.secret_key is not None
    user_service = own_service(PartName.USER_SERVICE)
    web_ui = build_web_ui(
        web_ui_settings(user_service.base_url, live_microservices.photo_service_url, settings.secret_key)
    )
    services_api.sign_up("bob")
    share_with_bob(services_api, "alice", "Known owner")
    bob = web_ui.test_client()
    log_in_in_browser(bob, "bob")
    assert "Known owner" in bob.get("/").get_data(as_text=True)

    user_service.stop()
    status, page, _ = timed_get(bob, "/")

    assert status == 200
    assert "Known owner" in page
    assert ">Alice</a>" in page
    assert bob.get("/readyz").status_code == 200

    share_with_bob(services_api, "carol", "New owner")
    status, page, seconds = timed_get(bob, "/")

    assert_degraded(status, page)
    assert seconds < CONNECT_TIMEOUT_SECONDS + MARGIN_SECONDS

    visitor = web_ui.test_client()
    token = csrf_token(visitor.get("/login").get_data(as_text=True))
    response = visitor.post(
        "/login", data={"username": "bob", "password": "correct-horse", "csrf_token": token}
    )
    assert_degraded(response.status_code, response.get_data(as_text=True))


class HungServer:
    """Accepts connections and never answers: a peer stuck in a deadlock or a GC pause."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._connections.append(connection)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._stopped.set()
        self._thread.join()
        for connection in self._connections:
            connection.close()
        self._listener.close()


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    """A server that never answers."""
    server = HungServer()
    yield server
    server.close()


def test_a_hung_photo_service_is_a_degraded_page_after_one_read_timeout(
    hung_server: HungServer,
    live_microservices: LiveMicroservices,
    settings: MonolithSettings,
    services_api: ApiClient,
) -> None:
    """A read that timed out is not sent again: the page waits one read timeout, not one per attempt."""
    assert settings.secret_key is not None
    # Long enough that a second attempt (2 x 2 s) could not hide inside the margin.
    read_timeout = 2.0
    web_ui: Flask = build_web_ui(
        web_ui_settings(
            live_microservices.user_service_url,
            hung_server.base_url,
            settings.secret_key,
            read_timeout_seconds=read_timeout,
        )
    )
    services_api.sign_up("bob")
    bob = web_ui.test_client()
    log_in_in_browser(bob, "bob")

    status, page, seconds = timed_get(bob, "/")

    assert_degraded(status, page)
    assert read_timeout <= seconds < 2 * read_timeout
