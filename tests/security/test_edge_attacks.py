"""Attacks on the edge from outside: the live microservices behind their edge, under gunicorn.

Each test reproduces an attack an outside probe found (docs/security.md, "The edge"):
one visitor getting another's session through the edge's shared HTTP client, `/internal/`
reached through dot segments the edge did not see, and broken request framing answered 500.
Paths and framings are sent byte for byte over raw sockets, since httpx would normalize them.

Broken framing may be refused by gunicorn's worker before the edge's application sees it,
or by the edge itself; both answer `400 malformed-request`, or close the connection when the
client has already stopped sending. Either way nothing reaches a component: each framing
test sends a sign-up and checks afterwards that the user was not created.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Flask

from tests.images import image_bytes
from tests.support.edge_paths import AMBIGUOUS_SPELLINGS_OF_INTERNAL
from tests.support.live import LiveMicroservices
from tests.support.session import SESSION_SECRET

SOCKET_TIMEOUT_SECONDS = 10
PASSWORD = "correct-horse"
AMBIGUOUS_PATH = "https://snappy.example/problems/ambiguous-path"
MALFORMED_REQUEST = "https://snappy.example/problems/malformed-request"
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def new_username(prefix: str) -> str:
    """A username no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def edge_url(live_microservices: LiveMicroservices) -> str:
    return live_microservices.edge_url


@pytest.fixture
def browser(edge_url: str) -> Iterator[httpx.Client]:
    """A browser: one cookie jar, no redirects followed."""
    with httpx.Client(base_url=edge_url, timeout=30, follow_redirects=False) as client:
        yield client


def csrf_token(page: str) -> str:
    match = _CSRF_INPUT.search(page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_up_in_browser(client: httpx.Client, username: str) -> None:
    """Sign up through the edge's sign-up page; the client is signed in afterwards."""
    token = csrf_token(client.get("/signup").text)
    response = client.post(
        "/signup",
        data={"username": username, "display_name": username, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302, response.text


def log_in_in_browser(client: httpx.Client, username: str) -> None:
    """Log in through the edge's login page, reading the CSRF token from its form."""
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text


def upload_in_browser(client: httpx.Client, caption: str, visibility: str) -> None:
    token = csrf_token(client.get("/upload").text)
    response = client.post(
        "/upload",
        data={"caption": caption, "visibility": visibility, "csrf_token": token},
        files={"file": ("secret.jpg", image_bytes(), "image/jpeg")},
    )
    assert response.status_code == 302, response.text


def sessions_in(response: httpx.Response) -> list[dict[str, Any]]:
    """Every Flask session a response's Set-Cookie headers carry, decoded with the live secret."""
    serializer = Flask(__name__)
    serializer.secret_key = SESSION_SECRET
    signing = serializer.session_interface.get_signing_serializer(serializer)  # type: ignore[attr-defined]
    sessions = []
    for header in response.headers.get_list("set-cookie"):
        value = header.split(";", 1)[0].split("=", 1)[1]
        if value:
            sessions.append(signing.loads(value))
    return sessions


def assert_a_stranger(edge_url: str, *secrets: str) -> None:
    """A client with no cookie is not signed in, sees none of `secrets`, and gets no session."""
    with httpx.Client(base_url=edge_url, timeout=30, follow_redirects=False) as stranger:
        photos = stranger.get("/photos")
        home = stranger.get("/")
        upload = stranger.get("/upload")

    assert photos.status_code == 302
    assert urlsplit(photos.headers["Location"]).path == "/login"
    assert upload.status_code == 302
    assert home.status_code == 200
    assert 'data-testid="current-user"' not in home.text
    for response in (photos, home, upload):
        for secret in secrets:
            assert secret not in response.text
            assert all(secret not in header for header in response.headers.get_list("set-cookie"))
        assert all("access_token" not in session for session in sessions_in(response))


def test_a_visitor_without_a_cookie_does_not_get_the_last_users_session(
    edge_url: str, browser: httpx.Client
) -> None:
    bob = new_username("bob")
    caption = f"bobs private caption {uuid.uuid4().hex}"
    sign_up_in_browser(browser, bob)
    log_in_in_browser(browser, bob)
    upload_in_browser(browser, caption, "private")
    bobs_cookie = browser.cookies["snappy_session"]
    assert caption in browser.get("/photos").text

    assert_a_stranger(edge_url, bob, caption, bobs_cookie)


def test_an_attacker_cannot_sign_strangers_into_his_account(edge_url: str, browser: httpx.Client) -> None:
    mallory = new_username("mallory")
    sign_up_in_browser(browser, mallory)
    log_in_in_browser(browser, mallory)
    assert f'data-testid="current-user">{mallory}<' in browser.get("/").text

    assert_a_stranger(edge_url, mallory, browser.cookies["snappy_session"])


# --- raw HTTP -------------------------------------------------------------------------


@dataclass(frozen=True)
class RawAnswer:
    """What came back on a raw connection."""

    status: int
    content_type: str
    body: bytes

    def problem_type(self) -> str:
        assert self.content_type == "application/problem+json", (self.status, self.content_type, self.body)
        kind: str = json.loads(self.body)["type"]
        return kind


def exchange(edge_url: str, request: bytes, *, end_input: bool = False) -> RawAnswer | None:
    """Send `request` byte for byte and read one answer, or None when the server closed instead.

    `end_input` half-closes the connection after sending, as a client that stops early does.
    Every socket operation is bounded by SOCKET_TIMEOUT_SECONDS.
    """
    address = urlsplit(edge_url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.settimeout(SOCKET_TIMEOUT_SECONDS)
        sock.sendall(request)
        if end_input:
            sock.shutdown(socket.SHUT_WR)
        answer = http.client.HTTPResponse(sock)
        try:
            answer.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        body = answer.read()
        return RawAnswer(answer.status, (answer.getheader("Content-Type") or "").split(";")[0], body)


def assert_refused_as_malformed(answer: RawAnswer | None, *, may_close: bool) -> None:
    """A 400 malformed-request problem document; a closed connection where `may_close`."""
    if answer is None:
        assert may_close, "the server closed the connection although the client could read an answer"
        return
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.problem_type() == MALFORMED_REQUEST


def request_bytes(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: snappy.test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def sign_up_over_api(edge_url: str, username: str) -> None:
    response = httpx.post(
        f"{edge_url}/api/v1/users",
        json={"username": username, "password": PASSWORD, "display_name": username},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def user_exists(edge_url: str, username: str) -> bool:
    """True when `username` can log in: the only way to tell from outside without a token."""
    response = httpx.post(
        f"{edge_url}/api/v1/tokens", json={"username": username, "password": PASSWORD}, timeout=30
    )
    return response.status_code == 201


def test_the_probes_dot_segment_request_is_refused_without_user_data(edge_url: str) -> None:
    victim = new_username("victim")
    sign_up_over_api(edge_url, victim)
    body = b'{"ids":[1,2,3]}'

    answer = exchange(
        edge_url,
        request_bytes(
            "POST",
            "/api/v1/users/../../../internal/v1/users/lookup",
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
            body,
        ),
    )

    assert answer is not None
    assert answer.status == 400
    assert answer.problem_type() == AMBIGUOUS_PATH
    assert victim.encode() not in answer.body
    assert b"username" not in answer.body


@pytest.mark.parametrize("target", ["/internal/v1/users/lookup", *AMBIGUOUS_SPELLINGS_OF_INTERNAL])
def test_ambiguous_spellings_of_internal_never_get_a_200(edge_url: str, target: str) -> None:
    body = b'{"ids":[1,2,3]}'

    answer = exchange(
        edge_url,
        request_bytes(
            "POST", target, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
        ),
    )

    assert answer is not None
    assert answer.status in {400, 404}, (answer.status, answer.body)
    assert b"username" not in answer.body


def signup_body(username: str) -> bytes:
    return json.dumps({"username": username, "password": PASSWORD, "display_name": username}).encode()


def test_a_body_shorter_than_its_content_length_is_a_400_and_creates_nothing(edge_url: str) -> None:
    username = new_username("short")
    body = signup_body(username)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body) + 10)}

    answer = exchange(edge_url, request_bytes("POST", "/api/v1/users", headers, body), end_input=True)

    assert_refused_as_malformed(answer, may_close=True)
    assert not user_exists(edge_url, username)


@pytest.mark.parametrize("content_length", ["abc", "-1", "12, 12", "1e3", "0x10"])
def test_an_invalid_content_length_is_a_400_and_creates_nothing(edge_url: str, content_length: str) -> None:
    username = new_username("length")
    headers = {"Content-Type": "application/json", "Content-Length": content_length}

    answer = exchange(edge_url, request_bytes("POST", "/api/v1/users", headers, signup_body(username)))

    assert_refused_as_malformed(answer, may_close=False)
    assert not user_exists(edge_url, username)


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def test_content_length_beside_chunked_is_refused_and_smuggles_nothing(edge_url: str) -> None:
    username = new_username("smuggled")
    body = chunked(signup_body(username))
    headers = {"Content-Type": "application/json", "Content-Length": "4", "Transfer-Encoding": "chunked"}

    answer = exchange(edge_url, request_bytes("POST", "/api/v1/users", headers, body))

    assert_refused_as_malformed(answer, may_close=False)
    assert not user_exists(edge_url, username)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda body: b"zz\r\n" + body + b"\r\n0\r\n\r\n", id="chunk size not hex"),
        pytest.param(
            lambda body: f"{len(body):x}\r\n".encode() + body + b"XX0\r\n\r\n", id="no CRLF after data"
        ),
        pytest.param(lambda body: f"{len(body) + 50:x}\r\n".encode() + body, id="chunk cut short"),
        pytest.param(lambda body: f"{len(body):x}\r\n".encode() + body + b"\r\n", id="no last chunk"),
    ],
)
def test_a_malformed_chunked_body_is_a_400_and_creates_nothing(edge_url: str, mangle: Any) -> None:
    username = new_username("chunky")
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    answer = exchange(
        edge_url,
        request_bytes("POST", "/api/v1/users", headers, mangle(signup_body(username))),
        end_input=True,
    )

    # Cut short or missing its last chunk, the body can only end with the connection.
    assert_refused_as_malformed(answer, may_close=True)
    assert not user_exists(edge_url, username)


def test_a_well_framed_chunked_body_still_goes_through(edge_url: str) -> None:
    username = new_username("chunked")
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    answer = exchange(
        edge_url, request_bytes("POST", "/api/v1/users", headers, chunked(signup_body(username)))
    )

    assert answer is not None
    assert answer.status == 201, answer.body
    assert user_exists(edge_url, username)
