"""The monolith as deployed: under gunicorn, over real HTTP, stopping gracefully."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx

from tests.support.gunicorn import spawn_monolith
from tests.support.live import LiveMonolith
from tests.support.openapi import assert_httpx_conforms


def test_the_deployed_app_serves_the_contract_over_http(live_monolith: LiveMonolith) -> None:
    with httpx.Client(base_url=live_monolith.base_url, timeout=10) as http:
        body = {"username": "gunicorn_user", "password": "correct-horse", "display_name": "G"}
        created = http.post("/api/v1/users", json=body)
        token = http.post("/api/v1/tokens", json={"username": "gunicorn_user", "password": "correct-horse"})
        me = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    for response in (created, token, me):
        assert_httpx_conforms(response)
    assert me.json()["username"] == "gunicorn_user"
    assert me.headers["X-Request-ID"]


def test_logs_are_json_lines_with_request_ids(live_monolith: LiveMonolith) -> None:
    httpx.get(
        f"{live_monolith.base_url}/api/v1/feed", headers={"X-Request-ID": "gunicorn-log-check"}, timeout=10
    )

    # Master and workers append to one file while it is read: a line still being copied in
    # can look torn for a moment, so read until the entry is there and every line parses.
    deadline = time.monotonic() + 5
    while True:
        try:
            lines = complete_log_lines(live_monolith.log_path)
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


def complete_log_lines(log_path: Path) -> list[dict[str, object]]:
    """Every finished line of the log, parsed; each must be a JSON object."""
    text = log_path.read_text()
    # The server may be writing the last line right now: only newline-terminated lines count.
    finished = text[: text.rfind("\n") + 1]
    # Split on "\n" only: str.splitlines() would also split on U+2028 and other separators.
    return [json.loads(line) for line in finished.split("\n") if line.strip()]


def test_sigterm_lets_an_in_flight_request_finish_then_exits(live_monolith: LiveMonolith) -> None:
    process, base_url = spawn_monolith(
        live_monolith.environment, live_monolith.log_path.with_name("sigterm.log")
    )
    port = int(base_url.rsplit(":", 1)[1])
    body = json.dumps(
        {"username": "in_flight", "password": "correct-horse", "display_name": "In flight"}
    ).encode()
    head = (
        f"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()

    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
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
