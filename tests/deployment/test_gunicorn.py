"""Each version as deployed: migrated by its job, under gunicorn, over real HTTP, stopping gracefully.

The monolith is one deployable. Of the microservices, the part that does what a test is
about runs: user-service for accounts, photo-service for the feed, web-ui for the pages.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from snappy_devstack.backing import BackingServices
from snappy_devstack.processes import LOOPBACK, free_ports, stop_process
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_topology import PartName, part
from tests.support.gunicorn import STOP_GRACE_SECONDS, launch_gunicorn, stopped_on_exit, wait_until_ready
from tests.support.live import LiveMicroservices, LiveMonolith
from tests.support.openapi import assert_httpx_conforms
from tests.support.parts import spawn_part
from tests.support.provisioning import migrate, new_bucket, new_database
from tests.support.session import SESSION_TAG
from tests.support.versions import VERSIONS

pytestmark = pytest.mark.live

# The part of each version that serves accounts, the feed and the pages.
ACCOUNTS = {"monolith": PartName.MONOLITH, "microservices": PartName.USER_SERVICE}
FEED = {"monolith": PartName.MONOLITH, "microservices": PartName.PHOTO_SERVICE}
PAGES = {"monolith": PartName.MONOLITH, "microservices": PartName.WEB_UI}


def live_url_and_log(request: pytest.FixtureRequest, version: str, name: PartName) -> tuple[str, Path]:
    """Where part `name` of the live `version` answers, and the log it writes."""
    if version == "monolith":
        live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        return live_monolith.base_url, live_monolith.log_path
    live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
    return live_microservices.part_urls[name], live_microservices.log_path


# Starts one more instance of a part of a live version; returns the process and its port.
StartInstance = Callable[[str, PartName], tuple[subprocess.Popen[bytes], int]]


@pytest.fixture
def start_instance(
    request: pytest.FixtureRequest, backing: BackingServices, tmp_path: Path
) -> Iterator[StartInstance]:
    """Starts one more instance of a part of the live version, on its stores and a free port; ready.

    Every instance started is stopped after the test, if the test has not stopped it.
    """
    with stopped_on_exit() as processes:

        def start(version: str, name: PartName) -> tuple[subprocess.Popen[bytes], int]:
            [port] = free_ports(1)
            if version == "monolith":
                live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
                environment = live_monolith.environment
            else:
                live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
                environment = live_microservices.environment_of(name, backing, port)
            log_path = tmp_path / f"{name}.log"
            process = launch_gunicorn(part(name).package, environment, port, log_path)
            processes.append(process)
            wait_until_ready(f"http://{LOOPBACK}:{port}", process, log_path)
            return process, port

        yield start


def complete_log_lines(log_path: Path) -> list[dict[str, object]]:
    """Every finished line of the log, parsed; each must be a JSON object."""
    text = log_path.read_text()
    # The server may be writing the last line right now: only newline-terminated lines count.
    finished = text[: text.rfind("\n") + 1]
    # Split on "\n" only: str.splitlines() would also split on U+2028 and other separators.
    return [json.loads(line) for line in finished.split("\n") if line.strip()]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_deployment_migrates_serves_the_contract_and_stops_cleanly(
    version: str, backing: BackingServices, tmp_path: Path
) -> None:
    name = ACCOUNTS[version]
    key_file = tmp_path / "jwt-signing-key.pem"
    key_file.write_text(generate_private_key_pem())
    log_path = tmp_path / "gunicorn.log"
    stores = f"snappy_deployed_{version}_{SESSION_TAG}"
    with (
        new_database(backing, stores) as database_url,
        new_bucket(backing, stores.replace("_", "-")) as bucket,
    ):
        # The deployment's job, on the empty database: `python -m <package> migrate`.
        migrate(part(name).package, database_url)
        process, base_url = spawn_part(
            name,
            backing,
            log_path,
            base={**os.environ, "SNAPPY_THREADS": "2"},
            database_url=database_url,
            bucket=bucket if part(name).bucket is not None else None,
            key_file=key_file,
        )
        try:
            with httpx.Client(base_url=base_url, timeout=10) as http:
                body = {"username": "live_user", "password": "correct-horse", "display_name": "Live"}
                created = http.post("/api/v1/users", json=body)
                token = http.post(
                    "/api/v1/tokens", json={"username": "live_user", "password": "correct-horse"}
                )
                me = http.get(
                    "/api/v1/users/me",
                    headers={
                        "Authorization": f"Bearer {token.json()['access_token']}",
                        "X-Request-ID": "deployed",
                    },
                )
                ready = http.get("/readyz")
                # Only user-service answers other services' lookups; the monolith has no such API.
                lookup = http.post("/internal/v1/users/lookup", json={"usernames": ["live_user"]})
        finally:
            stop_process(process, grace_seconds=STOP_GRACE_SECONDS)

    for response in (created, token, me, ready):
        assert_httpx_conforms(response)
    assert me.json() == created.json()
    assert me.json()["username"] == "live_user"
    assert me.headers["X-Request-ID"] == "deployed"
    if version == "microservices":
        assert lookup.json() == {"users": [created.json()]}
    else:
        assert lookup.status_code == 404
    assert process.returncode == 0
    lines = complete_log_lines(log_path)
    assert any(line.get("request_id") == "deployed" and line.get("status") == 200 for line in lines)


@pytest.mark.parametrize("version", VERSIONS)
def test_logs_are_json_lines_with_request_ids(version: str, request: pytest.FixtureRequest) -> None:
    base_url, log_path = live_url_and_log(request, version, FEED[version])
    httpx.get(f"{base_url}/api/v1/feed", headers={"X-Request-ID": "gunicorn-log-check"}, timeout=10)

    # Master and workers append to one file while it is read: a line still being copied in
    # can look torn for a moment, so read until the entry is there and every line parses.
    deadline = time.monotonic() + 5
    while True:
        try:
            lines = complete_log_lines(log_path)
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        matching = [line for line in lines if line.get("request_id") == "gunicorn-log-check"]
        if matching or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    assert len(matching) == 1
    assert matching[0]["status"] == 401
    assert matching[0]["path"] == "/api/v1/feed"


@pytest.mark.parametrize("version", VERSIONS)
def test_sigterm_lets_an_in_flight_request_finish_then_exits(
    version: str, start_instance: StartInstance
) -> None:
    body = json.dumps(
        {"username": "in_flight", "password": "correct-horse", "display_name": "In flight"}
    ).encode()
    head = (
        f"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()

    process, port = start_instance(version, ACCOUNTS[version])

    with socket.create_connection((LOOPBACK, port), timeout=20) as connection:
        connection.sendall(head + body[:10])
        time.sleep(0.5)  # the worker is now inside the request, waiting for the body
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk

    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert process.wait(timeout=30) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_the_pages_are_served_under_gunicorn(version: str, start_instance: StartInstance) -> None:
    process, port = start_instance(version, PAGES[version])

    with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as http:
        landing = http.get("/")
        ready = http.get("/readyz")
        stylesheet = http.get("/static/snappy.css")
    stop_process(process, grace_seconds=STOP_GRACE_SECONDS)

    assert landing.status_code == 200
    assert "Share photos with the people you choose." in landing.text
    assert landing.headers["X-Request-ID"]
    assert ready.json() == {"status": "ok"}
    assert stylesheet.status_code == 200
    assert process.returncode == 0
