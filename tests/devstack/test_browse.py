"""`snappy browse`: sample users read what they can see, counted; the same reads as `compare_user_views`.

A recording stand-in for Snappy checks which requests are sent and how the answers are
reported; the session's live monolith, seeded with the sample users, checks the whole
command against the real thing.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from snappy_devstack.backing import BackingServices
from snappy_devstack.browse import Browsing, UserTally, browse
from snappy_devstack.cli import main
from snappy_devstack.seed import DEMO_PASSWORD, seed
from snappy_devstack.user_views import compare_user_views
from tests.devstack.fake_snappy import serving
from tests.support.live import running_monolith
from tests.support.session import SESSION_TAG

_TIMEOUT_SECONDS = 120
_FAKE_PASSWORD = "fake-password"
# What alice reads on the recording stand-in: two pages of her photos (1 and 2, then 3),
# one page each of her feed and public photos, and four reads of each photo she owns.
_ALICE_READS = [
    "POST /api/v1/tokens",
    "GET /api/v1/users/me",
    "GET /api/v1/users/alice",
    "GET /api/v1/photos?limit=100",
    "GET /api/v1/photos?limit=100&cursor=page-2",
    "GET /api/v1/feed?limit=100",
    "GET /api/v1/users/alice/photos?limit=100",
    *(
        f"GET /api/v1/photos/{photo_id}{suffix}"
        for photo_id in (1, 2, 3)
        for suffix in ("", "/shares", "/content", "/thumbnail")
    ),
]


@dataclass
class RecordingSnappy:
    """A stand-in for Snappy's API that records each request; some paths can be made to fail."""

    base_url: str = ""
    requests: list[str] = field(default_factory=list)
    # Path -> the status it answers instead, or None to drop the connection without an answer.
    failing: dict[str, int | None] = field(default_factory=dict)
    # Photos left out of the list of the caller's photos (they still answer on their own).
    unlisted: set[int] = field(default_factory=set)


@contextmanager
def recording_snappy() -> Iterator[RecordingSnappy]:
    """Serve a fresh recording stand-in on a free loopback port while the context lasts."""
    state = RecordingSnappy()
    with serving(_recording_handler(state)) as base_url:
        state.base_url = base_url
        yield state


def _recording_handler(state: RecordingSnappy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.path != "/api/v1/tokens" or body.get("password") != _FAKE_PASSWORD:
                self._send(401, {"title": "Unauthorized", "detail": "The username or password is wrong"})
                return
            self._send(201, {"access_token": secrets.token_hex(8), "token_type": "Bearer", "expires_in": 60})

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            url = urlsplit(self.path)
            if url.path in state.failing:
                status = state.failing[url.path]
                if status is None:
                    self.close_connection = True
                    return
                self._send(status, {"title": "failing on purpose"})
            elif url.path in ("/", "/login"):
                self._send(200, "<!doctype html><title>Snappy</title>", content_type="text/html")
            elif url.path == "/api/v1/photos":
                second_page = parse_qs(url.query).get("cursor") == ["page-2"]
                ids = [3] if second_page else [1, 2]
                items = [{"id": photo_id} for photo_id in ids if photo_id not in state.unlisted]
                self._send(200, {"items": items, "next_cursor": None if second_page else "page-2"})
            elif url.path in ("/api/v1/feed", "/api/v1/users/alice/photos"):
                self._send(200, {"items": [], "next_cursor": None})
            elif re.fullmatch(r"/api/v1/photos/\d+/(content|thumbnail)", url.path):
                self._send(200, "\xff\xd8 not really a picture", content_type="image/jpeg")
            else:
                self._send(200, {"path": url.path})

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            payload = (json.dumps(body) if content_type == "application/json" else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{int(probe.getsockname()[1])}"


def _run(command: list[str], *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *arguments],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# --- the requests, on a recording stand-in ---------------------------------------------------


def test_browse_sends_the_reads_compare_user_views_compares_and_the_anonymous_pages() -> None:
    with recording_snappy() as monolith, recording_snappy() as microservices:
        assert compare_user_views(monolith.base_url, microservices.base_url, ["alice"], _FAKE_PASSWORD) == []
        assert monolith.requests == microservices.requests == _ALICE_READS
        monolith.requests.clear()

        browsing = browse(monolith.base_url, ["alice"], _FAKE_PASSWORD)

    assert monolith.requests == ["GET /", "GET /login", *_ALICE_READS]
    assert browsing.ok
    # Every request but the log-in is a read.
    assert browsing.users[0].reads == len(_ALICE_READS) + 1


def test_a_photo_one_version_does_not_list_is_still_read_on_both() -> None:
    with recording_snappy() as monolith, recording_snappy() as microservices:
        microservices.unlisted.add(3)
        differences = compare_user_views(monolith.base_url, microservices.base_url, ["alice"], _FAKE_PASSWORD)
    assert differences == ["alice: GET /api/v1/photos (page 2): items: 1 items != 0 items"]
    # Photo 3 is read on the microservices too, though they did not list it.
    assert monolith.requests == microservices.requests == _ALICE_READS


def test_a_read_not_answered_2xx_is_named_and_the_exit_status_is_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with recording_snappy() as snappy:
        snappy.failing["/api/v1/feed"] = 503
        status = main(["browse", "--url", snappy.base_url, "--users", "alice", "--password", _FAKE_PASSWORD])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[0] == "alice: 20 reads; 1 not OK: GET /api/v1/feed (page 1) 503"
    assert re.fullmatch(rf"browsed {snappy.base_url} as alice: 20 reads in \d+\.\d s; 1 not OK", lines[1])
    assert len(lines) == 2


def test_a_read_that_gets_no_answer_ends_that_round_and_the_others_go_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with recording_snappy() as snappy:
        snappy.failing["/api/v1/photos/2/content"] = None
        arguments = ["--users", "alice", "--password", _FAKE_PASSWORD, "--rounds", "2"]
        status = main(["browse", "--url", snappy.base_url, *arguments])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    # Each round: the 2 pages, /users/me, the profile, 4 pages of lists, photo 1's 4 reads, and
    # photo 2's metadata and shares; its content gets no answer.
    unanswered = f"no answer: the server at {snappy.base_url} did not answer GET /api/v1/photos/2/content"
    assert lines[0].startswith(f"alice: 28 reads, all answered (200); {unanswered}: ")
    assert lines[0].endswith(" (2 times)")
    assert lines[1].endswith("; 2 requests got no answer")
    assert "(2 rounds)" in lines[1]


def test_the_lines_name_what_went_wrong() -> None:
    alice = UserTally("alice", reads=23)
    alice.answered[200] = 23
    bob = UserTally("bob", reads=23)
    bob.answered[200] = 20
    bob.not_ok[("GET /api/v1/feed (page 1)", 503)] = 2
    bob.not_ok[("GET /api/v1/photos/7/thumbnail", 404)] = 1
    carol = UserTally("carol", reads=2)
    carol.answered[200] = 2
    carol.log_in_refusals["POST /api/v1/tokens 401: The username or password is wrong"] = 1
    browsing = Browsing("http://127.0.0.1:8000", rounds=1, seconds=0.84, users=[alice, bob, carol])

    assert browsing.lines() == [
        "alice: 23 reads, all answered (200)",
        "bob: 23 reads; 3 not OK: GET /api/v1/feed (page 1) 503 (2 times),"
        " GET /api/v1/photos/7/thumbnail 404",
        "carol: cannot log in (POST /api/v1/tokens 401: The username or password is wrong);"
        " 2 reads, all answered (200)",
        "browsed http://127.0.0.1:8000 as alice, bob, carol: 48 reads in 0.8 s;"
        " 3 not OK; carol could not log in",
    ]
    assert not browsing.ok
    assert Browsing("http://127.0.0.1:8000", rounds=1, seconds=0.84, users=[alice]).lines()[-1] == (
        "browsed http://127.0.0.1:8000 as alice: 23 reads in 0.8 s; every read answered"
    )


# --- the command, on the session's live monolith ---------------------------------------------


@pytest.fixture(scope="module")
def seeded_monolith(backing: BackingServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live monolith of its own with the sample users of `snappy seed` and their photos; its URL.

    Not the session's: other tests sign up an `alice` of their own there, with another password.
    """
    folder = tmp_path_factory.mktemp("browse-monolith")
    with running_monolith(backing, folder, name=f"snappy_browse_{SESSION_TAG}") as monolith:
        seed(monolith.base_url)
        yield monolith.base_url


@pytest.mark.live
def test_the_sample_users_read_everything_they_can_see(
    seeded_monolith: str, snappy_command: list[str], tmp_path: Path
) -> None:
    result = _run(snappy_command, "browse", "--url", seeded_monolith, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # Per user: / and /login, /users/me, the profile, one page each of photos, feed and public
    # photos, and four reads of each of the 4 photos seeding gave them.
    assert lines[:3] == [f"{name}: 23 reads, all answered (200)" for name in ("alice", "bob", "carol")]
    assert re.fullmatch(
        rf"browsed {seeded_monolith} as alice, bob, carol: 69 reads in \d+\.\d s; every read answered",
        lines[3],
    ), lines
    assert len(lines) == 4
    assert result.stderr == ""


@pytest.mark.live
def test_a_user_with_another_password_is_a_failure_line(
    seeded_monolith: str, snappy_command: list[str], tmp_path: Path
) -> None:
    stranger = f"browse_{secrets.token_hex(4)}"
    signed_up = httpx.post(
        f"{seeded_monolith}/api/v1/users",
        json={"username": stranger, "password": f"{DEMO_PASSWORD}-not", "display_name": "Stranger"},
        timeout=15,
    )
    assert signed_up.status_code == 201, signed_up.text

    result = _run(
        snappy_command, "browse", "--url", seeded_monolith, "--users", f"alice,{stranger}", cwd=tmp_path
    )

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "alice: 23 reads, all answered (200)"
    # The pages read before logging in were answered; nothing was read after the refusal.
    assert re.fullmatch(
        rf"{stranger}: cannot log in \(POST /api/v1/tokens 401: .+\); 2 reads, all answered \(200\)", lines[1]
    ), lines
    assert re.fullmatch(
        rf"browsed {seeded_monolith} as alice, {stranger}: 25 reads in \d+\.\d s;"
        rf" {stranger} could not log in",
        lines[2],
    ), lines
    assert "Traceback" not in result.stdout + result.stderr


def test_a_url_where_nothing_answers_is_exit_status_2_and_one_line(
    closed_url: str, snappy_command: list[str], tmp_path: Path
) -> None:
    result = _run(snappy_command, "browse", "--url", closed_url, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"snappy browse: the server at {closed_url} did not answer GET /: ")
    assert "Traceback" not in result.stderr
