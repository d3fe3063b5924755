"""A client that keeps writing and reading through a strangler stack's edge while the stack moves.

Round after round it signs a new user up, logs them in, uploads a private photo, shares it
with the user of the round before, and has that user read the shared photo. Every request
goes through the edge, so each lands wherever the edge routes it at that moment: before,
during or after a cutover (`snappy cutover`, `snappy rehearse --phased`).

Each answer falls in one of three kinds, counted:

- acknowledged: 2xx;
- refused by a cutover's write freeze: the edge's declared 503 (`Retry-After: 1`, a problem
  document saying the writes "are paused while they move"), which a client is told to try
  again;
- unexpected: any other answer, or none at all. A cutover that loses nothing leaves none.

A round stops at its first request not acknowledged, and the next one starts a tenth of a
second later.

The writes acknowledged are kept (who signed up, which photo each uploaded, which shares),
so a test can read them back afterwards from whichever part owns them then.
"""

from __future__ import annotations

import io
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import httpx
from PIL import Image

from snappy_devstack.errors import one_line

__all__ = [
    "WORKLOAD_PASSWORD",
    "EdgeWorkload",
    "WorkloadTally",
    "is_freeze_refusal",
    "workload_picture",
    "workload_through",
]

WORKLOAD_PASSWORD = "workload-password"  # noqa: S105 - the made-up users' password
_API = "/api/v1"
# Long enough for an upload held up by a freeze's wait for the writes in flight.
_TIMEOUT_SECONDS = 30.0
# After an answer that is not 2xx (or none), the next round waits this long: sooner than a
# freeze's Retry-After (1 s), so the client keeps pressing on the freeze, without spinning.
_WAIT_AFTER_A_FAILED_REQUEST_SECONDS = 0.1
# How long stopping waits for the round in progress before leaving the thread behind.
_STOP_SECONDS = 60.0
# Small, so that an upload is decoded and thumbnailed quickly on a busy machine.
_PICTURE_SIZE = (64, 48)
_PICTURE_FILENAME = "walk.jpg"


@cache
def workload_picture() -> bytes:
    """The JPEG every round uploads: the same bytes each time, so a read-back can compare them."""
    width, height = _PICTURE_SIZE
    picture = Image.new("RGB", _PICTURE_SIZE)
    # A gradient, so the picture is not a single colour.
    picture.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG")
    return buffer.getvalue()


def is_freeze_refusal(response: httpx.Response) -> bool:
    """Whether `response` is a cutover's write freeze as the edge declares it (snappy_edge.app._frozen)."""
    if response.status_code != 503 or response.headers.get("Retry-After") != "1":
        return False
    if response.headers.get("Content-Type") != "application/problem+json":
        return False
    try:
        problem: Any = response.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and "paused while they move" in str(problem.get("detail", ""))


@dataclass(frozen=True)
class WorkloadTally:
    """The workload's counts at one moment; `since` gives what happened between two of them."""

    requests: int = 0
    acknowledged: int = 0
    frozen: int = 0
    # One line per unexpected answer: the request and its status, or why none came.
    unexpected: tuple[str, ...] = ()

    def since(self, earlier: WorkloadTally) -> WorkloadTally:
        """What was counted after `earlier`, a tally of the same workload taken before this one."""
        return WorkloadTally(
            requests=self.requests - earlier.requests,
            acknowledged=self.acknowledged - earlier.acknowledged,
            frozen=self.frozen - earlier.frozen,
            unexpected=self.unexpected[len(earlier.unexpected) :],
        )


@dataclass
class EdgeWorkload:
    """The client's rounds against the edge at `edge_url`, on a thread of its own, and what it saw."""

    edge_url: str
    # Acknowledged writes: users signed up, (username, photo id) uploaded, (photo id, username) shared.
    users: list[str] = field(default_factory=list)
    photos: list[tuple[str, int]] = field(default_factory=list)
    shares: list[tuple[int, str]] = field(default_factory=list)
    _tally: WorkloadTally = field(default_factory=WorkloadTally)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def tally(self) -> WorkloadTally:
        """The counts now."""
        with self._lock:
            return self._tally

    def start(self) -> None:
        """Start the rounds on a daemon thread (one that never keeps the process alive)."""
        self._thread = threading.Thread(target=self._run, name="edge-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_STOP_SECONDS)

    def _run(self) -> None:
        previous: tuple[str, str] | None = None  # the last round's user and their token
        with httpx.Client(base_url=self.edge_url.rstrip("/"), timeout=_TIMEOUT_SECONDS) as client:
            while not self._stop.is_set():
                try:
                    previous = self._round(client, previous) or previous
                except (ValueError, KeyError, TypeError) as error:
                    # A 2xx whose body is not what the contract says: counted, and the rounds go on.
                    problem = f"an answer not as documented: {one_line(error)}"
                    with self._lock:
                        self._tally = replace(self._tally, unexpected=(*self._tally.unexpected, problem))

    def _round(self, client: httpx.Client, previous: tuple[str, str] | None) -> tuple[str, str] | None:
        """One round; the user it signed up and their token, or None when it stopped early."""
        username = f"walk{secrets.token_hex(4)}"
        signed_up = self._send(
            client,
            "POST",
            f"{_API}/users",
            json={"username": username, "password": WORKLOAD_PASSWORD, "display_name": username},
        )
        if signed_up is None:
            return None
        with self._lock:
            self.users.append(username)
        issued = self._send(
            client, "POST", f"{_API}/tokens", json={"username": username, "password": WORKLOAD_PASSWORD}
        )
        if issued is None:
            return None
        token = str(issued.json()["access_token"])
        uploaded = self._send(
            client,
            "POST",
            f"{_API}/photos",
            token=token,
            files={"file": (_PICTURE_FILENAME, workload_picture(), "image/jpeg")},
            data={"caption": username, "visibility": "private"},
        )
        if uploaded is None:
            return username, token
        photo_id = int(uploaded.json()["id"])
        with self._lock:
            self.photos.append((username, photo_id))
        if previous is None:
            return username, token
        friend, friend_token = previous
        shared = self._send(
            client, "POST", f"{_API}/photos/{photo_id}/shares", token=token, json={"username": friend}
        )
        if shared is not None:
            with self._lock:
                self.shares.append((photo_id, friend))
            # The friend sees what was shared with them, from whichever part serves photos now.
            self._send(client, "GET", f"{_API}/photos/{photo_id}", token=friend_token)
        return username, token

    def _send(
        self, client: httpx.Client, method: str, path: str, *, token: str | None = None, **options: Any
    ) -> httpx.Response | None:
        """The answer when acknowledged (2xx); None when refused or unanswered, counted either way."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = f"{method} {path.split('?', maxsplit=1)[0]}"
        try:
            response = client.request(method, path, headers=headers, **options)
        except httpx.HTTPError as error:
            self._count(unexpected=f"{request}: no answer ({one_line(error)})")
        else:
            if 200 <= response.status_code < 300:
                self._count(acknowledged=True)
                return response
            if is_freeze_refusal(response):
                self._count(frozen=True)
            else:
                self._count(unexpected=f"{request}: {response.status_code}")
        self._stop.wait(_WAIT_AFTER_A_FAILED_REQUEST_SECONDS)
        return None

    def _count(
        self, *, acknowledged: bool = False, frozen: bool = False, unexpected: str | None = None
    ) -> None:
        with self._lock:
            tally = self._tally
            self._tally = WorkloadTally(
                requests=tally.requests + 1,
                acknowledged=tally.acknowledged + acknowledged,
                frozen=tally.frozen + frozen,
                unexpected=(*tally.unexpected, unexpected) if unexpected is not None else tally.unexpected,
            )


@contextmanager
def workload_through(edge_url: str) -> Iterator[EdgeWorkload]:
    """The workload running against `edge_url` while the context lasts."""
    workload = EdgeWorkload(edge_url)
    workload.start()
    try:
        yield workload
    finally:
        workload.stop()
