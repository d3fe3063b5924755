"""The edge workload's rounds, counts and read-back.

Against a made-up edge on a local port, which answers every request of a round as Snappy
does, refuses uploads with the freeze's declared 503 while `frozen` is set, and answers 500
to one upload and one edit: the workload must count each kind of answer apart, keep only
acknowledged writes, mark what an unexpected answer leaves unknown, send every kind of
write of a round, and stop when told.

Against both versions of Snappy, running: after the rounds that make every kind of photo
the read-back tells apart, it finds nothing; then each difference planted behind the
workload's back (a caption edited, a photo deleted, a share made again, a token it takes
for logged out that is not) is named, with what follows from it, and nothing else.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from snappy_devstack.edge_workload import (
    WORKLOAD_PASSWORD,
    EdgeWorkload,
    PhotoRecord,
    workload_through,
)

_FREEZE_DETAIL = "Writes to photos, shares, feed are paused while they move; try again in a moment"
_WAIT_SECONDS = 20.0
# Against Snappy a round takes a second or more (its sign-up and log-ins hash a password) and
# every kind of photo takes six rounds; a machine busy with other stacks is several times slower.
_ROUNDS_WAIT_SECONDS = 120.0
_CREATED_AT = "2024-05-01T12:30:00.000000Z"


@dataclass
class FakeEdge:
    """What the made-up edge answers, and what it was asked."""

    frozen: threading.Event = field(default_factory=threading.Event)
    fail_next_upload: threading.Event = field(default_factory=threading.Event)
    fail_next_edit: threading.Event = field(default_factory=threading.Event)
    photo_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    token_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    shares: list[tuple[int, str]] = field(default_factory=list)
    # "METHOD /path Authorization" of every request, in order.
    requests: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        self.requests.append(f"{request.method} {request.path} {request.headers.get('Authorization')}")
        if request.method == "GET":
            return _json(200, {})
        if request.method == "DELETE":
            return Response(status=204)
        if request.method == "PATCH":
            return self.edit()
        if request.path == "/api/v1/photos":
            return self.upload()
        return self.created(request.path, request.get_json()["username"])

    def created(self, path: str, username: str) -> Response:
        """A user signed up, a token issued or a share made: the POSTs with a username."""
        if path.endswith("/shares"):
            self.shares.append((int(path.split("/")[4]), username))
            return _json(201, {"username": username, "created_at": _CREATED_AT})
        if path == "/api/v1/tokens":
            return _json(201, {"access_token": f"token-{next(self.token_numbers)}-of-{username}"})
        return _json(201, {"username": username, "display_name": username, "created_at": _CREATED_AT})

    def edit(self) -> Response:
        if self.fail_next_edit.is_set():
            self.fail_next_edit.clear()
            return _problem(500)
        return _json(200, {})

    def upload(self) -> Response:
        if self.frozen.is_set():
            return _problem(503, detail=_FREEZE_DETAIL, headers={"Retry-After": "1"})
        if self.fail_next_upload.is_set():
            self.fail_next_upload.clear()
            return _problem(500)
        return _json(201, {"id": next(self.photo_ids), "created_at": _CREATED_AT})

    def sent(self, method: str) -> list[str]:
        return [request for request in self.requests if request.startswith(f"{method} ")]


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _problem(status: int, *, detail: str = "", headers: dict[str, str] | None = None) -> Response:
    body = {"title": "made up", "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, content_type="application/problem+json", headers=headers)


@pytest.fixture
def edge() -> Iterator[tuple[FakeEdge, str]]:
    fake = FakeEdge()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def fake_uploads_acknowledged(fake: FakeEdge) -> int:
    """The ids the fake edge handed out: the next one it would give, less one."""
    return next(fake.photo_ids) - 1


def _until(condition: Callable[[], object], what: str, seconds: float = _WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.01)


def test_the_workload_counts_acknowledged_frozen_and_unexpected_answers_apart(
    edge: tuple[FakeEdge, str],
) -> None:
    fake, url = edge
    with workload_through(url) as workload:
        _until(lambda: len(fake.shares) >= 3, "three shares")
        fake.frozen.set()
        before_freeze = workload.tally()
        _until(lambda: workload.tally().frozen >= 3, "three uploads refused by the freeze")
        fake.frozen.clear()
        during_freeze = workload.tally().since(before_freeze)
        fake.fail_next_upload.set()
        _until(lambda: len(workload.tally().unexpected) == 1, "the upload that failed")
        fake.fail_next_edit.set()
        _until(lambda: len(workload.tally().unexpected) == 2, "the edit that failed")
        _until(lambda: len(fake.shares) >= 10, "shares after the failures")
    tally = workload.tally()
    stopped = tally.requests

    assert during_freeze.frozen >= 3
    assert during_freeze.unexpected == ()
    # Only acknowledged uploads are kept; what the two 500s may have written is marked unknown.
    assert len(workload.photo_records) == fake_uploads_acknowledged(fake)
    assert [user.uploads_unknown for user in workload.user_records.values()].count(True) == 1
    [edited_unknown] = [photo for photo in workload.photo_records.values() if photo.unknown]
    assert tally.unexpected == (
        "POST /api/v1/photos: 500",
        f"PATCH /api/v1/photos/{edited_unknown.photo_id}: 500",
    )
    assert tally.requests == tally.acknowledged + tally.frozen + 2 == len(fake.requests)
    assert edited_unknown.caption == edited_unknown.owner, "an edit not acknowledged was kept"
    # Each photo is shared with the user of the round before, who reads it with their own token.
    users = workload.users
    owners = {photo.photo_id: photo.owner for photo in workload.photo_records.values()}
    for photo_id, friend in fake.shares:
        assert users.index(friend) == users.index(owners[photo_id]) - 1
        assert any(
            read.startswith(f"GET /api/v1/photos/{photo_id}/content Bearer token-")
            and read.endswith(f"-of-{friend}")
            for read in fake.sent("GET")
        )
    assert set(workload.shares) <= set(fake.shares)
    # Every kind of write went out: edits, revoked shares, deleted photos, log-outs.
    deletes = [request.split()[1] for request in fake.sent("DELETE")]
    assert fake.sent("PATCH")
    assert any(re.fullmatch(r"/api/v1/photos/[0-9]+/shares/walk[0-9a-f]+", path) for path in deletes)
    assert any(re.fullmatch(r"/api/v1/photos/[0-9]+", path) for path in deletes), "no photo deleted"
    assert len(workload.revoked_tokens) == deletes.count("/api/v1/tokens/current") > 0
    time.sleep(0.2)
    assert workload.tally().requests == stopped, "the workload kept sending after it was stopped"


def test_a_request_that_gets_no_answer_is_unexpected() -> None:
    workload = EdgeWorkload("http://127.0.0.1:9")  # the discard port: nothing listens there
    workload.start()
    _until(lambda: workload.tally().requests >= 2, "two attempts")
    workload.stop()

    tally = workload.tally()
    assert tally.acknowledged == 0
    assert tally.frozen == 0
    assert len(tally.unexpected) == tally.requests
    assert all(line.startswith("POST /api/v1/users: no answer (") for line in tally.unexpected)
    assert workload.users == []


def test_a_request_whose_connection_closed_before_any_answer_is_sent_once_more() -> None:
    # The first connection closes without a byte of an answer, as a reloading nginx's old
    # worker closes a kept-alive one; every later connection is answered 500.
    listener = socket.create_server(("127.0.0.1", 0))
    connections = itertools.count()

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                if next(connections) > 0:
                    connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    workload = EdgeWorkload(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        workload.start()
        _until(lambda: workload.tally().requests >= 1, "a first request")
        workload.stop()
    finally:
        listener.close()

    tally = workload.tally()
    # Sent again on a new connection, once, and that answer is the one counted.
    assert tally.resent == 1
    assert tally.unexpected[0] == "POST /api/v1/users: 500"
    assert tally.requests == len(tally.unexpected)


@pytest.fixture(params=["monolith", "microservices"])
def snappy_url(request: pytest.FixtureRequest) -> str:
    """Where each version of Snappy answers: the monolith itself, the microservices' edge."""
    if request.param == "monolith":
        return str(request.getfixturevalue("live_monolith").base_url)
    return str(request.getfixturevalue("live_microservices").edge_url)


def run_until_every_kind_of_write_is_kept(url: str) -> EdgeWorkload:
    """The workload against `url` until it kept a photo of each kind the read-back tells apart."""

    def kinds(photos: list[PhotoRecord]) -> set[str]:
        found = {"deleted" for photo in photos if photo.deleted}
        for photo in photos:
            if not photo.deleted and photo.unshared_from:
                found.add(f"{photo.visibility}, share revoked")
            if not photo.deleted and photo.shared_with:
                found.add(f"{photo.visibility}, shared")
        return found

    every_kind = {
        "deleted",
        "private, share revoked",
        "public, share revoked",
        "private, shared",
        "public, shared",
    }
    with workload_through(url) as workload:
        _until(
            lambda: (
                workload.tally().unexpected
                or (kinds(list(workload.photo_records.values())) == every_kind and workload.revoked_tokens)
            ),
            "a photo of each kind and a token logged out",
            _ROUNDS_WAIT_SECONDS,
        )
    assert workload.tally().unexpected == ()
    assert workload.tally().frozen == 0
    return workload


def test_the_read_back_finds_nothing_until_differences_are_planted_behind_the_workloads_back(
    snappy_url: str,
) -> None:
    workload = run_until_every_kind_of_write_is_kept(snappy_url)

    assert workload.problems_reading_back() == []

    live = [photo for photo in workload.photo_records.values() if not photo.deleted]
    [deleted] = [
        photo
        for photo in live
        if photo.visibility == "private" and len(photo.shared_with) == 1 and not photo.unshared_from
    ][:1]
    [sharee] = deleted.shared_with
    [unshared] = [photo for photo in live if photo.unshared_from and photo.visibility == "private"][:1]
    [friend] = unshared.unshared_from
    [edited] = [photo for photo in live if photo not in (deleted, unshared)][:1]
    with httpx.Client(base_url=snappy_url, timeout=30) as client:

        def token_of(username: str) -> str:
            issued = client.post("/api/v1/tokens", json={"username": username, "password": WORKLOAD_PASSWORD})
            assert issued.status_code == 201, issued.text
            return str(issued.json()["access_token"])

        def as_owner(method: str, photo: PhotoRecord, path: str = "", **options: Any) -> None:
            headers = {"Authorization": f"Bearer {token_of(photo.owner)}"}
            answer = client.request(
                method, f"/api/v1/photos/{photo.photo_id}{path}", headers=headers, **options
            )
            assert answer.is_success, answer.text

        as_owner("PATCH", edited, json={"caption": "changed behind its back"})
        as_owner("DELETE", deleted)
        as_owner("POST", unshared, "/shares", json={"username": friend})
        # A token the workload takes for logged out, which is not.
        workload.revoked_tokens.append((edited.owner, token_of(edited.owner)))

    problems = workload.problems_reading_back()

    deleted_named, deleted_path = (
        f"photo {deleted.photo_id} of {deleted.owner}",
        f"/api/v1/photos/{deleted.photo_id}",
    )
    unshared_named = f"photo {unshared.photo_id} of {unshared.owner}"
    expected = [
        f"photo {edited.photo_id} of {edited.owner}: caption is 'changed behind its back',"
        f" not {edited.caption!r}",
        f"{deleted_named}: GET {deleted_path} answered 404, not 200",
        f"{deleted_named}: GET {deleted_path}/content answered 404 with ",
        f"{deleted_named}: GET {deleted_path}/thumbnail answered 404 ",
        f"{deleted_named}: GET {deleted_path}/shares did not answer 200",
        f"{deleted_named}, private, to {sharee} (shared): GET {deleted_path} answered 404, not 200",
        f"{unshared_named}: shared with ['{friend}'], not []",
        f"{unshared_named}, private, to {friend} (share revoked):"
        f" GET /api/v1/photos/{unshared.photo_id} answered 200, not 404",
        f"user {deleted.owner}: GET /api/v1/photos lacks [{deleted.photo_id}]",
        f"user {sharee}: GET /api/v1/feed lacks [{deleted.photo_id}]",
        f"user {friend}: GET /api/v1/feed lists [{unshared.photo_id}], which it should not",
        f"{edited.owner}'s token logged out: GET /users/me answered 200, not 401",
    ]
    for line in expected:
        assert any(problem.startswith(line) for problem in problems), (line, problems)
    assert len(problems) == len(expected), problems
