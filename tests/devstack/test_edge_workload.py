"""The edge workload's rounds and counts, against a made-up edge on a local port.

The edge here answers as Snappy's does (sign-up, log-in, upload, share, read), refuses
uploads with the freeze's declared 503 while `frozen` is set, and answers 500 to one upload:
the workload must count each kind apart, keep only acknowledged writes, share each photo
with the user of the round before, and stop when told.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from snappy_devstack.edge_workload import EdgeWorkload, workload_through

_FREEZE_DETAIL = "Writes to photos, shares, feed are paused while they move; try again in a moment"
_WAIT_SECONDS = 20.0


@dataclass
class FakeEdge:
    """What the made-up edge answers, and what it was asked."""

    frozen: threading.Event = field(default_factory=threading.Event)
    fail_next_upload: threading.Event = field(default_factory=threading.Event)
    photo_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    shares: list[tuple[int, str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        if request.method == "GET":
            self.reads.append(f"{request.headers.get('Authorization')} {request.path}")
            return _json(200, {"id": int(request.path.split("/")[4])})
        if request.path == "/api/v1/photos":
            return self.upload()
        username = request.get_json()["username"]
        if request.path.endswith("/shares"):
            self.shares.append((int(request.path.split("/")[4]), username))
            return _json(201, {"username": username})
        if request.path == "/api/v1/tokens":
            return _json(201, {"access_token": f"token-of-{username}"})
        return _json(201, {"username": username})  # POST /api/v1/users

    def upload(self) -> Response:
        if self.frozen.is_set():
            return _json(
                503,
                {"title": "Service Unavailable", "detail": _FREEZE_DETAIL},
                content_type="application/problem+json",
                headers={"Retry-After": "1"},
            )
        if self.fail_next_upload.is_set():
            self.fail_next_upload.clear()
            return _json(500, {"title": "Internal Server Error"}, content_type="application/problem+json")
        return _json(201, {"id": next(self.photo_ids)})


def _json(
    status: int,
    body: dict[str, Any],
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(json.dumps(body), status=status, content_type=content_type, headers=headers)


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


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {_WAIT_SECONDS} s: {what}"
        time.sleep(0.01)


def test_the_workload_counts_acknowledged_frozen_and_unexpected_answers_apart(
    edge: tuple[FakeEdge, str],
) -> None:
    fake, url = edge
    with workload_through(url) as workload:
        _until(lambda: len(workload.shares) >= 3, "three shares")
        fake.frozen.set()
        before_freeze = workload.tally()
        _until(lambda: workload.tally().frozen >= 3, "three uploads refused by the freeze")
        fake.frozen.clear()
        during_freeze = workload.tally().since(before_freeze)
        fake.fail_next_upload.set()
        _until(lambda: workload.tally().unexpected, "the upload that failed")
        _until(lambda: len(workload.shares) >= 6, "shares after the freeze")
    tally = workload.tally()
    stopped = tally.requests

    assert during_freeze.frozen >= 3
    assert during_freeze.unexpected == ()
    assert tally.unexpected == ("POST /api/v1/photos: 500",)
    assert tally.requests == tally.acknowledged + tally.frozen + 1
    # Only acknowledged uploads are kept, each shared with the user of the round before it.
    owners = {photo_id: owner for owner, photo_id in workload.photos}
    assert len(owners) == len(workload.photos)
    assert len(workload.photos) == fake_uploads_acknowledged(fake)
    users = workload.users
    for photo_id, friend in workload.shares:
        assert users.index(friend) < users.index(owners[photo_id])
        # The friend reads the photo shared with them, with their own token.
        assert f"Bearer token-of-{friend} /api/v1/photos/{photo_id}" in fake.reads
    assert fake.shares == workload.shares
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
