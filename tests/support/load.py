"""A bounded load of real users: sign up, log in, then upload, read back, share and read the feed.

Each client is a thread with its own user and HTTP connection pool. It runs until its
time is up or its request budget is spent, records the outcome of every request, and
keeps every write the server acknowledged, so that a test can read each one back
afterwards, byte for byte.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from PIL import Image

__all__ = [
    "AcknowledgedShare",
    "AcknowledgedUpload",
    "BackgroundLoad",
    "LoadResult",
    "RequestOutcome",
    "random_image",
    "run_load",
    "start_load",
]

PASSWORD = "reliability-password"


def random_image(side: int = 48) -> bytes:
    """A real PNG of random pixels: every upload is different and none compresses away."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class RequestOutcome:
    """One request: what it was, when, and how it ended (a status, or a connection error)."""

    operation: str
    started: float
    finished: float
    status: int | None = None
    error: str | None = None
    # Of an error answer: its Retry-After header and its problem type, as sent.
    retry_after: str | None = None
    problem_type: str | None = None

    @property
    def succeeded(self) -> bool:
        """Answered with a 2xx whose body was right."""
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def failed_cleanly(self) -> bool:
        """No answer at all, or a 5xx: the failures a crash or an outage may cause."""
        if self.status is None:
            return self.error is not None and self.error.startswith("connection:")
        return self.status >= 500 and self.error is None

    @property
    def label(self) -> str:
        """How it ended, for counting: a status, or the kind of error."""
        if self.status is None:
            return self.error or "no answer"
        return str(self.status) if self.error is None else f"{self.status} {self.error}"


@dataclass(frozen=True)
class AcknowledgedUpload:
    """An upload the server answered 201 to, with the bytes that were sent."""

    photo_id: int
    owner: str
    data: bytes


@dataclass(frozen=True)
class AcknowledgedShare:
    """A share the server answered 201 to."""

    photo_id: int
    recipient: str


@dataclass
class LoadResult:
    """Everything a load run did and saw."""

    outcomes: list[RequestOutcome] = field(default_factory=list)
    uploads: list[AcknowledgedUpload] = field(default_factory=list)
    shares: list[AcknowledgedShare] = field(default_factory=list)
    # Every upload body sent, acknowledged or not: what an unacknowledged row may hold.
    sent_upload_bodies: list[bytes] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def by_label(self) -> dict[str, int]:
        """How many requests ended each way (status or error kind)."""
        return dict(sorted(Counter(outcome.label for outcome in self.outcomes).items()))

    def failures(self) -> list[RequestOutcome]:
        """Every request that did not succeed."""
        return [outcome for outcome in self.outcomes if not outcome.succeeded]

    def _record(self, outcome: RequestOutcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)


class _Client:
    """One simulated user."""

    def __init__(self, base_url: str, username: str, peer: str, result: LoadResult, keep_alive: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
        self.http = httpx.Client(base_url=base_url, timeout=30, limits=limits)
        self.username = username
        self.peer = peer
        self.result = result
        self.token: str | None = None

    def send(self, operation: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """Send one request and record how it ended; None when there was no answer."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        started = time.monotonic()
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as error:
            self.result._record(
                RequestOutcome(
                    operation, started, time.monotonic(), error=f"connection: {type(error).__name__}"
                )
            )
            return None
        finished = time.monotonic()
        retry_after = problem_type = None
        if response.status_code >= 400:
            retry_after = response.headers.get("Retry-After")
            if response.headers.get("Content-Type", "").startswith("application/problem+json"):
                problem_type = response.json().get("type")
        self.result._record(
            RequestOutcome(
                operation,
                started,
                finished,
                status=response.status_code,
                retry_after=retry_after,
                problem_type=problem_type,
            )
        )
        return response

    def record_wrong_answer(self, operation: str, started: float, status: int, what: str) -> None:
        """A 2xx whose body is not what was written: the worst outcome, recorded as such."""
        self.result._record(RequestOutcome(operation, started, time.monotonic(), status=status, error=what))

    def sign_up_and_log_in(self, deadline: float) -> bool:
        """Create the user and get a token, retrying until the deadline through failures."""
        body = {"username": self.username, "password": PASSWORD, "display_name": self.username}
        signed_up = False
        while not signed_up and time.monotonic() < deadline:
            response = self.send("sign-up", "POST", "/api/v1/users", json=body)
            # 409 after a failed attempt: that attempt was applied before its answer was lost.
            signed_up = response is not None and response.status_code in {201, 409}
        while self.token is None and time.monotonic() < deadline:
            credentials = {"username": self.username, "password": PASSWORD}
            response = self.send("log-in", "POST", "/api/v1/tokens", json=credentials)
            if response is not None and response.status_code == 201:
                self.token = response.json()["access_token"]
        return self.token is not None

    def one_round(self) -> None:
        """Upload a new image, read it back, share it with the peer, read the feed."""
        data = random_image()
        with self.result._lock:
            self.result.sent_upload_bodies.append(data)
        files = {"file": ("load.png", data, "image/png")}
        response = self.send("upload", "POST", "/api/v1/photos", files=files, data={"caption": "load"})
        if response is None or response.status_code != 201:
            return
        photo_id: int = response.json()["id"]
        with self.result._lock:
            self.result.uploads.append(AcknowledgedUpload(photo_id, self.username, data))
        started = time.monotonic()
        content = self.send("read", "GET", f"/api/v1/photos/{photo_id}/content")
        if content is not None and content.status_code == 200 and content.content != data:
            self.record_wrong_answer("read", started, 200, "bytes differ")
        shared = self.send("share", "POST", f"/api/v1/photos/{photo_id}/shares", json={"username": self.peer})
        if shared is not None and shared.status_code == 201:
            with self.result._lock:
                self.result.shares.append(AcknowledgedShare(photo_id, self.peer))
        self.send("feed", "GET", "/api/v1/feed")


def run_load(
    base_url: str,
    *,
    clients: int,
    seconds: float,
    max_rounds_per_client: int = 200,
    keep_alive: bool = True,
    started: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Run `clients` users against `base_url` for `seconds` at most, and return what happened.

    Every client signs up before any starts its rounds, so every share has a recipient;
    `started` is set when the rounds begin, and setting `stop` ends them early.
    """
    result = LoadResult()
    tag = secrets.token_hex(3)
    usernames = [f"load_{tag}_{index}" for index in range(clients)]
    users = [
        _Client(base_url, name, usernames[(index + 1) % clients], result, keep_alive)
        for index, name in enumerate(usernames)
    ]
    set_up_deadline = time.monotonic() + 30
    ready = threading.Barrier(clients + 1)

    def drive(user: _Client) -> None:
        try:
            logged_in = user.sign_up_and_log_in(set_up_deadline)
            ready.wait(timeout=60)
            if not logged_in:
                return
            stop_at = time.monotonic() + seconds
            for _ in range(max_rounds_per_client):
                if time.monotonic() >= stop_at or (stop is not None and stop.is_set()):
                    break
                user.one_round()
        finally:
            user.http.close()

    threads = [threading.Thread(target=drive, args=(user,), name=f"load-{user.username}") for user in users]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    if started is not None:
        started.set()
    for thread in threads:
        thread.join()
    result.tokens = {user.username: user.token for user in users if user.token is not None}
    return result


class BackgroundLoad:
    """A `run_load` on a thread of its own, for a test that acts on the stack while users use it."""

    def __init__(self, base_url: str, *, clients: int, seconds: float) -> None:
        self._rounds_began = threading.Event()
        self._stop = threading.Event()
        self._results: list[LoadResult] = []
        self._thread = threading.Thread(
            target=lambda: self._results.append(
                run_load(
                    base_url, clients=clients, seconds=seconds, started=self._rounds_began, stop=self._stop
                )
            ),
            name="background-load",
        )

    def start(self) -> None:
        """Start the load; return once every client has logged in and the rounds began."""
        self._thread.start()
        assert self._rounds_began.wait(timeout=60), "the load did not begin within 60 s"

    def stop(self) -> LoadResult:
        """End the rounds now; what the load did."""
        self._stop.set()
        return self.wait()

    def wait(self) -> LoadResult:
        """Let the rounds run until their time is up; what the load did."""
        self._thread.join()
        assert self._results, "the load failed: see its thread's traceback"
        return self._results[0]


def start_load(base_url: str, *, clients: int, seconds: float) -> BackgroundLoad:
    """A load of `clients` users for `seconds` at most, started in the background and under way."""
    load = BackgroundLoad(base_url, clients=clients, seconds=seconds)
    load.start()
    return load
