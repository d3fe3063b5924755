"""`snappy up --stack both` end to end: the monolith and the microservices side by side."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from snappy_devstack.local_stack import read_local_stack
from snappy_devstack.processes import port_is_free
from snappy_devstack.seed import DEMO_PASSWORD
from tests.devstack.conftest import PROVIDER_VARIABLES

_START_TIMEOUT_SECONDS = 50
_STOP_TIMEOUT_SECONDS = 45
_PASSWORD = "correct-horse-battery"
_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class RunningUp:
    """A `snappy up` process, where it announced its stacks, and what it printed so far."""

    process: subprocess.Popen[bytes]
    monolith_url: str
    edge_url: str
    output_path: Path
    state_dir: Path

    def output(self) -> str:
        """Everything the command printed so far."""
        return self.output_path.read_text(errors="replace")


@pytest.fixture
def snappy_up_both(snappy_command: list[str], tmp_path: Path) -> Iterator[RunningUp]:
    """`snappy up --stack both --seed` on two free ports, announced and ready."""
    port = _free_port_followed_by_a_free_port()
    environment = {name: value for name, value in os.environ.items() if name not in PROVIDER_VARIABLES}
    # Embedded servers in the temporary state dir: the run must not touch the databases
    # a developer's own `snappy up` keeps on a shared PostgreSQL server.
    environment["SNAPPY_DEV_PROVIDER"] = "embedded"
    # Where `snappy migrate`, run in `tmp_path` (no repository above it), looks for the stack.
    state_dir = tmp_path / ".snappy"
    output_path = tmp_path / "snappy-up.out"
    arguments = ["up", "--stack", "both", "--port", str(port), "--seed", "--state-dir", str(state_dir)]
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            [*snappy_command, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=tmp_path,
        )
    running = RunningUp(
        process=process,
        monolith_url=f"http://127.0.0.1:{port}",
        edge_url=f"http://127.0.0.1:{port + 1}",
        output_path=output_path,
        state_dir=state_dir,
    )
    try:
        _wait_for_announcement(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_up_both_runs_two_independent_stacks_with_one_key_and_stops_cleanly(
    snappy_up_both: RunningUp, snappy_command: list[str], tmp_path: Path
) -> None:
    monolith, edge = snappy_up_both.monolith_url, snappy_up_both.edge_url
    announced = snappy_up_both.output()
    assert f"Snappy (monolith) is up at {monolith}" in announced
    assert f"Snappy (microservices) is up at {edge}" in announced
    assert f"The pages are at {edge}/ and the API at {edge}/api/v1" in announced
    assert re.search(r"web-ui at http://127\.0\.0\.1:\d+", announced)
    assert announced.count("Sample users: alice, bob, carol") == 2  # each stack was seeded

    suffix = secrets.token_hex(4)
    monolith_user, edge_user = f"mono_{suffix}", f"edge_{suffix}"
    with httpx.Client(timeout=10) as http:
        for base_url in (monolith, edge):
            assert http.get(f"{base_url}/readyz").status_code == 200
        monolith_token = _sign_up_and_log_in(http, monolith, monolith_user)
        edge_token = _sign_up_and_log_in(http, edge, edge_user)

        # Each stack has its own data: a user exists only where it signed up.
        assert _profile_status(http, monolith, monolith_user, monolith_token) == 200
        assert _profile_status(http, monolith, edge_user, monolith_token) == 404
        assert _profile_status(http, edge, edge_user, edge_token) == 200
        assert _profile_status(http, edge, monolith_user, edge_token) == 404

        # One signing key for both, so tokens pass between the versions.
        monolith_keys = http.get(f"{monolith}/.well-known/jwks.json").json()
        assert monolith_keys["keys"]
        assert http.get(f"{edge}/.well-known/jwks.json").json() == monolith_keys

    _log_in_through_the_pages(edge, "alice")
    _check_the_stack_description(snappy_up_both, snappy_command, tmp_path)

    logs = snappy_up_both.state_dir / "logs"
    for name in ("monolith", "user-service", "photo-service", "web-ui", "edge"):
        assert (logs / f"{name}.log").stat().st_size > 0
    assert not (logs / "web-ui-migrate.log").exists()  # no database, nothing to migrate

    # Every server the command announced, the edge's services included.
    ports = {int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", announced)}
    assert len(ports) == 5
    snappy_up_both.process.send_signal(signal.SIGTERM)
    assert snappy_up_both.process.wait(timeout=_STOP_TIMEOUT_SECONDS) == 0
    output = snappy_up_both.output()
    assert output.rstrip().endswith("Stopped.")
    assert "Traceback" not in output
    assert [port for port in sorted(ports) if not port_is_free(port)] == []
    assert not (snappy_up_both.state_dir / "stack.json").exists()  # the stores are no longer there


def _check_the_stack_description(running: RunningUp, snappy_command: list[str], cwd: Path) -> None:
    """`stack.json` names both sides, and `snappy migrate` finds the stores through it with no options."""
    described = read_local_stack(running.state_dir / "stack.json")
    assert (described.monolith_url, described.microservices_url) == (running.monolith_url, running.edge_url)
    assert described.monolith_database_url.endswith("/snappy_monolith")
    assert described.user_service_database_url.endswith("/snappy_users")
    assert described.photo_service_database_url.endswith("/snappy_photos")
    assert (described.monolith_bucket, described.photo_service_bucket) == ("snappy-monolith", "snappy-photos")

    status = subprocess.run(
        [*snappy_command, "migrate", "plan"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert status.returncode == 0, status.stderr
    # Each side was seeded and signed a user up on its own; nothing was migrated.
    assert re.search(r"^users\s+4\s+user-service\.users\s+4\s+not started$", status.stdout, re.MULTILINE), (
        status.stdout
    )
    assert "Nothing was written." in status.stdout


def _sign_up_and_log_in(http: httpx.Client, base_url: str, username: str) -> str:
    user = {"username": username, "password": _PASSWORD, "display_name": username.title()}
    signed_up = http.post(f"{base_url}/api/v1/users", json=user)
    assert signed_up.status_code == 201, signed_up.text
    credentials = {"username": username, "password": _PASSWORD}
    logged_in = http.post(f"{base_url}/api/v1/tokens", json=credentials)
    assert logged_in.status_code == 201, logged_in.text
    token: str = logged_in.json()["access_token"]
    return token


def _log_in_through_the_pages(base_url: str, username: str) -> None:
    """Log a seeded user in with the /login form at `base_url`, as a browser would, and open the feed."""
    with httpx.Client(base_url=base_url, timeout=10, follow_redirects=False) as browser:
        landing = browser.get("/")
        assert landing.status_code == 200, landing.text
        assert landing.headers["Content-Type"].startswith("text/html")
        assert 'data-testid="landing-login"' in landing.text

        form = browser.get("/login")
        assert form.status_code == 200, form.text
        csrf = _CSRF_INPUT.search(form.text)
        assert csrf is not None, form.text
        credentials = {"csrf_token": csrf.group(1), "username": username, "password": DEMO_PASSWORD}
        logged_in = browser.post("/login", data=credentials)
        assert logged_in.status_code == 302, logged_in.text
        assert httpx.URL(base_url).join(logged_in.headers["Location"]) == httpx.URL(f"{base_url}/")
        assert "snappy_session" in browser.cookies

        feed = browser.get("/")
        assert feed.status_code == 200, feed.text
        assert feed.headers["Content-Type"].startswith("text/html")
        assert f'data-testid="current-user">{username}</a>' in feed.text
        assert "Shared with you" in feed.text
        # Seeding shares photos between the demo users, so the feed is not empty.
        assert 'data-testid="photo-card"' in feed.text


def _profile_status(http: httpx.Client, base_url: str, username: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return http.get(f"{base_url}/api/v1/users/{username}", headers=headers).status_code


def _wait_for_announcement(running: RunningUp) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while "Press Ctrl-C to stop." not in running.output():
        if running.process.poll() is not None:
            pytest.fail(f"snappy up exited with {running.process.returncode}:\n{running.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"snappy up was not up within {_START_TIMEOUT_SECONDS} s:\n{running.output()}")
        time.sleep(0.25)


def _free_port_followed_by_a_free_port() -> int:
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port < 65535 and port_is_free(port + 1):
            return port
    pytest.fail("found no two consecutive free ports")
