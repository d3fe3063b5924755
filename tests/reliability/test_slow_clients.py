"""Slow clients cannot starve either version, and framing errors are problem documents.

Both versions run under gunicorn as `snappy up` runs them (`-c python:<package>.gunicorn_conf`,
the live fixtures), with 4 threads per worker. Forty raw sockets trickle a request head,
or a request body, one byte a second; meanwhile a client keeps asking for `/healthz` and
for an API read, and every one of its requests must be answered, within the client's
timeout. Under plain gthread the forty sockets held every thread and those requests went
unanswered (docs/security.md, "Slow clients and framing"). The server must also cut the
tricklers off itself, with a 408 problem document, once their deadline passes. The one
declared difference: an edge with nginx in front (`SNAPPY_EDGE_FRONT`, nginx where it is
installed) closes a connection whose head is not complete by the deadline without an
answer, as nginx does; bodies it streams to the edge's lane, which answers the 408.

Oversized and malformed request heads, sent raw, get the same problem documents from the
monolith, from the edge in front of the microservices, and from a service directly.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.live import LiveMicroservices, LiveMonolith
from tests.support.openapi import PUBLIC_CONTRACT_PATH

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
ATTACKERS = 40
TRICKLE_INTERVAL_SECONDS = 1.0
# Past the worker's 10 s head and body deadlines, so the test sees the server cut them off.
ATTACK_SECONDS = 13.0
# Not a performance bound: how long the probing client waits for any one answer.
PROBE_TIMEOUT_SECONDS = 5.0
PROBE_INTERVAL_SECONDS = 0.25
# How long to wait, after the attack, for the server to have closed every trickler.
CUT_OFF_WAIT_SECONDS = 10.0
# What a trickler sends at most: one byte per interval.
MAX_TRICKLED_BYTES = int(ATTACK_SECONDS / TRICKLE_INTERVAL_SECONDS) + 1
PASSWORD = "slow-clients-password"

VERSIONS = ["monolith", "microservices"]
# pytest's `record_property` fixture: a figure kept in the JUnit report.
RecordProperty = Callable[[str, object], None]


@dataclass(frozen=True)
class Target:
    """Where a version answers the public, and a user with a token on it."""

    url: str
    username: str
    token: str
    # What answers the public: nginx for an edge with nginx in front, gunicorn otherwise.
    server: str

    @property
    def address(self) -> tuple[str, int]:
        """Host and port for raw sockets."""
        return address_of(self.url)


def address_of(url: str) -> tuple[str, int]:
    """Host and port of a base URL."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def public_url(request: pytest.FixtureRequest, version: str) -> str:
    """The public entry of `version`: the monolith, or the edge in front of the microservices."""
    if version == "monolith":
        live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        return live_monolith.base_url
    live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
    return live_microservices.edge_url


@pytest.fixture(params=VERSIONS)
def target(request: pytest.FixtureRequest) -> Target:
    """One version, with a new user signed up and logged in."""
    url = public_url(request, request.param)
    username = f"slow{secrets.token_hex(4)}"
    with httpx.Client(base_url=url, timeout=30) as client:
        created = client.post(
            "/api/v1/users", json={"username": username, "password": PASSWORD, "display_name": username}
        )
        assert created.status_code == 201, created.text
        issued = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
        assert issued.status_code == 201, issued.text
        token: str = issued.json()["access_token"]
        # Seen from outside: nginx names itself in the answers it passes on.
        server = client.get("/healthz").headers.get("Server", "")
    return Target(url, username, token, server)


@dataclass
class Trickler:
    """One attacking connection: what it sends, how far it got, and what it received back."""

    sock: socket.socket
    remaining: bytes
    sent: int = 0
    closed_by_server: bool = False
    answer: bytes = b""


@dataclass
class Probes:
    """What the probing client saw: every answer's status, every failure, the slowest answer."""

    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    slowest_seconds: float = 0.0


def open_tricklers(address: tuple[str, int], opening: bytes, rest: bytes) -> list[Trickler]:
    """ATTACKERS connections that have sent `opening` and will trickle `rest` a byte at a time."""
    tricklers: list[Trickler] = []
    for _ in range(ATTACKERS):
        sock = socket.create_connection(address, timeout=5)
        sock.sendall(opening)
        sock.setblocking(False)
        tricklers.append(Trickler(sock, rest, sent=len(opening)))
    return tricklers


def trickle(tricklers: list[Trickler], stop: threading.Event) -> None:
    """Send each trickler's next byte every interval until `stop`; note which the server closed."""
    while not stop.wait(TRICKLE_INTERVAL_SECONDS):
        for trickler in tricklers:
            if trickler.closed_by_server or not trickler.remaining:
                continue
            try:
                trickler.sock.send(trickler.remaining[:1])
            except OSError:
                trickler.closed_by_server = True
                continue
            trickler.remaining = trickler.remaining[1:]
            trickler.sent += 1


def collect_answers(tricklers: list[Trickler], wait_seconds: float) -> None:
    """Read what the server sent each trickler until it closed them all, or `wait_seconds` pass."""
    deadline = time.monotonic() + wait_seconds
    open_ones = {trickler.sock: trickler for trickler in tricklers}
    while open_ones and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_ones), [], [], 0.5)
        for sock in readable:
            trickler = open_ones[sock]
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            trickler.answer += data
            if not data:
                trickler.closed_by_server = True
                del open_ones[sock]


def probe(target: Target, stop: threading.Event) -> Probes:
    """Ask for /healthz and the caller's profile until `stop`; a request left unanswered is a failure."""
    probes = Probes()
    headers = {"Authorization": f"Bearer {target.token}"}
    with httpx.Client(base_url=target.url, timeout=PROBE_TIMEOUT_SECONDS) as client:
        while not stop.wait(PROBE_INTERVAL_SECONDS):
            for path in ("/healthz", "/api/v1/users/me"):
                started = time.monotonic()
                try:
                    response = client.get(path, headers=headers)
                except httpx.HTTPError as error:
                    probes.failures.append(f"{path}: {type(error).__name__}")
                    continue
                probes.slowest_seconds = max(probes.slowest_seconds, time.monotonic() - started)
                probes.statuses.append(response.status_code)
                if path.startswith("/api/") and response.json().get("username") != target.username:
                    probes.failures.append(f"{path}: not the caller's profile")
    return probes


def attack(target: Target, opening: bytes, rest: bytes) -> tuple[list[Trickler], Probes]:
    """Run the tricklers and the probing client together; close every socket at the end."""
    tricklers = open_tricklers(target.address, opening, rest)
    try:
        stop = threading.Event()
        trickling = threading.Thread(target=trickle, args=(tricklers, stop))
        results: list[Probes] = []
        probing = threading.Thread(target=lambda: results.append(probe(target, stop)))
        trickling.start()
        probing.start()
        time.sleep(ATTACK_SECONDS)
        stop.set()
        trickling.join()
        probing.join()
        collect_answers(tricklers, CUT_OFF_WAIT_SECONDS)
        [probes] = results
        return tricklers, probes
    finally:
        for trickler in tricklers:
            trickler.sock.close()


def assert_survived(
    tricklers: list[Trickler], probes: Probes, record_property: RecordProperty, *, answered: bool = True
) -> None:
    """Every probe answered 200, and the server itself cut off every trickler: with a 408
    problem, or (`answered` False) by closing the connection without a byte, before the
    trickler had sent all it meant to."""
    record_property("probes answered", len(probes.statuses))
    record_property("slowest probe (s)", round(probes.slowest_seconds, 3))
    record_property("most bytes one trickler sent", max(trickler.sent for trickler in tricklers))
    assert probes.failures == []
    assert probes.statuses, "the probing client got no answer at all"
    assert set(probes.statuses) == {200}
    assert all(trickler.closed_by_server for trickler in tricklers)
    if not answered:
        assert [trickler.answer for trickler in tricklers] == [b""] * len(tricklers)
        assert all(trickler.remaining for trickler in tricklers), "a trickler sent its whole head"
        return
    for trickler in tricklers:
        status, document = parse_response(trickler.answer)
        assert status == 408
        assert document["type"] == "https://snappy.example/problems/request-timeout"


def test_forty_clients_trickling_headers_do_not_starve_the_server(
    target: Target, record_property: RecordProperty
) -> None:
    opening = b"GET /healthz HTTP/1.1\r\nHost: snappy\r\n"
    rest = b"X-Trickle: " + b"a" * MAX_TRICKLED_BYTES
    tricklers, probes = attack(target, opening, rest)
    # nginx gives an unfinished head no answer; gunicorn (the monolith, the lane alone) a 408.
    assert_survived(tricklers, probes, record_property, answered=target.server != "nginx")


def test_forty_clients_trickling_a_body_do_not_starve_the_server(
    target: Target, record_property: RecordProperty
) -> None:
    body = json.dumps({"username": "trickled", "password": PASSWORD, "display_name": "x" * 100}).encode()
    # Announces a body it sends only the first byte of at once, then one byte a second.
    opening = (
        b"POST /api/v1/users HTTP/1.1\r\nHost: snappy\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:1]
    )
    tricklers, probes = attack(target, opening, body[1:])
    assert_survived(tricklers, probes, record_property)


# -- framing errors -------------------------------------------------------------------


def parse_response(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and problem document of a whole raw HTTP/1.1 response, checking its headers."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    assert separator, f"no complete response head in {raw[:200]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)
    }
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    document: dict[str, Any] = json.loads(body)
    status = int(status_line.split(" ")[1])
    assert document["status"] == status
    assert set(document) >= {"type", "title", "status", "detail"}
    return status, document


def send_raw(address: tuple[str, int], request: bytes) -> bytes:
    """Send `request` on a new connection and read the answer until the server closes it."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@dataclass(frozen=True)
class FramingCase:
    """A raw request and the problem it must get."""

    name: str
    request: bytes
    status: int
    slug: str


FRAMING_CASES = [
    FramingCase(
        "request line over the limit",
        b"GET /api/v1/users/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: snappy\r\n\r\n",
        414,
        "uri-too-long",
    ),
    FramingCase(
        "head over the worker's 32 KiB bound",
        b"GET /healthz HTTP/1.1\r\nHost: snappy\r\n" + b"X-Big: b\r\n" * 4000 + b"\r\n",
        431,
        "request-header-fields-too-large",
    ),
    FramingCase(
        "one header field over gunicorn's field limit",
        b"GET /healthz HTTP/1.1\r\nHost: snappy\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        431,
        "request-header-fields-too-large",
    ),
    FramingCase("malformed request line", b"NOT-HTTP\r\n\r\n", 400, "malformed-request"),
    FramingCase(
        "body announced over the largest upload",
        b"POST /api/v1/photos HTTP/1.1\r\nHost: snappy\r\nContent-Length: 999999999999\r\n\r\n",
        413,
        "payload-too-large",
    ),
]


@pytest.fixture(params=["monolith", "edge", "user-service"])
def framing_address(request: pytest.FixtureRequest) -> tuple[str, int]:
    """The monolith, the edge, or a service reached directly."""
    if request.param == "user-service":
        live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
        url = live_microservices.user_service_url
    else:
        url = public_url(request, "monolith" if request.param == "monolith" else "microservices")
    return address_of(url)


@pytest.mark.parametrize("case", FRAMING_CASES, ids=lambda case: case.name)
def test_framing_errors_are_problem_documents(framing_address: tuple[str, int], case: FramingCase) -> None:
    status, document = parse_response(send_raw(framing_address, case.request))
    assert status == case.status
    assert document["type"] == f"https://snappy.example/problems/{case.slug}"


@pytest.fixture(scope="module")
def documented_errors() -> str:
    """The contract's table of problem types."""
    return PUBLIC_CONTRACT_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("slug", "status"),
    [
        ("malformed-request", 400),
        ("request-timeout", 408),
        ("uri-too-long", 414),
        ("request-header-fields-too-large", 431),
    ],
)
def test_the_contract_documents_each_problem_the_worker_answers(
    documented_errors: str, slug: str, status: int
) -> None:
    assert f"| {slug} | {status} |" in documented_errors
