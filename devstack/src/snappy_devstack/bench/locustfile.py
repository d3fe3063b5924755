"""Snappy's benchmark workload as a Locust user, run by `snappy bench` in a Locust process of its own.

Importing Locust patches the standard library with gevent, so this file is only ever
loaded by `python -m locust -f <this file>`, never imported by the `snappy` process. Two
options of its own say what to send and when the figures start counting:
`--snappy-workload` (the step's workload file: accounts, photo ids, pictures) and
`--snappy-warmup` (seconds sent before Locust's statistics are reset).

Each visitor acts as one prepared account (in turn) and walks the mix's cycle from its
own starting point with no pause between requests: a closed loop, so the concurrency is
the number of visitors. Every request is named by its route template, so Locust's
figures group per endpoint, and a request counts as failed unless it got exactly the
status expected (and, for a page, was served to the logged-in user).
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]  # no stubs; Locust runs on it
from locust import FastHttpUser, constant, events, task
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

from snappy_devstack.bench.workload import (
    CONTENT,
    FEED,
    FEED_PAGE,
    MY_PHOTOS,
    MY_PHOTOS_PAGE,
    PHOTO,
    PHOTO_PAGE,
    PROFILE,
    PROFILE_PAGE,
    PUBLIC_PHOTOS,
    SHARE,
    THUMBNAIL,
    UPLOAD,
    Account,
    Endpoint,
    StepWorkload,
    read_workload,
    schedule,
)

# Only a page served to a logged-in user carries the log-out form; a lost session shows none.
_LOGGED_IN_MARK = b'id="logout-form"'
# Visitors start this many requests apart in the cycle, so that they do not all send the same one.
_START_STRIDE = 7


class _Step:
    """The workload of this Locust process, read once at start-up."""

    workload: StepWorkload | None = None
    pictures: tuple[tuple[str, str, bytes], ...] = ()
    visitors: Iterator[int] = itertools.count()

    @classmethod
    def current(cls) -> StepWorkload:
        if cls.workload is None:
            raise RuntimeError("no workload: run Locust with --snappy-workload FILE")
        return cls.workload


@events.init_command_line_parser.add_listener
def _options(parser: LocustArgumentParser) -> None:
    parser.add_argument("--snappy-workload", default="", help="the step's workload file, from snappy bench")
    parser.add_argument(
        "--snappy-warmup", type=float, default=0.0, help="seconds of load before the statistics count"
    )


@events.init.add_listener
def _read_workload(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.snappy_workload:
        return
    workload = read_workload(Path(options.snappy_workload))
    _Step.workload = workload
    _Step.pictures = tuple(
        (image.filename, image.content_type, Path(image.path).read_bytes()) for image in workload.images
    )


@events.test_start.add_listener
def _count_after_warmup(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    warmup = 0.0 if options is None else float(options.snappy_warmup)
    if warmup > 0:
        # New connections, pools and caches settle first; only the load after them counts.
        gevent.spawn_later(warmup, environment.stats.reset_all)


class SnappyVisitor(FastHttpUser):
    """One logged-in user of Snappy, sending the mix's requests back to back."""

    wait_time = constant(0)
    # Deployed stacks are reached over HTTPS: check their certificates.
    insecure = False

    account: Account
    choices: random.Random
    position: int
    api_headers: dict[str, str]

    def on_start(self) -> None:
        workload = _Step.current()
        visitor = next(_Step.visitors)
        self.account = workload.accounts[visitor % len(workload.accounts)]
        # The same visitor picks the same photos and profiles on both versions.
        self.choices = random.Random(workload.seed * 1_000 + visitor)  # noqa: S311 - a workload, not a secret
        self.position = visitor * _START_STRIDE
        self.api_headers = {"Authorization": f"Bearer {self.account.token}", "Accept": "application/json"}
        host = urlsplit(workload.base_url).hostname or ""
        for name, value in self.account.cookies.items():
            self.client.cookiejar.set_cookie(_cookie(name, value, host))

    @task
    def next_request(self) -> None:
        """Send the next request of the cycle."""
        endpoint = _CYCLE[self.position % len(_CYCLE)]
        self.position += 1
        _SENDERS[endpoint](self)

    def feed(self) -> None:
        self._api(FEED, "/api/v1/feed")

    def my_photos(self) -> None:
        self._api(MY_PHOTOS, "/api/v1/photos")

    def photo(self) -> None:
        self._api(PHOTO, f"/api/v1/photos/{self._visible_photo()}")

    def content(self) -> None:
        self._api(CONTENT, f"/api/v1/photos/{self._visible_photo()}/content")

    def thumbnail(self) -> None:
        self._api(THUMBNAIL, f"/api/v1/photos/{self._visible_photo()}/thumbnail")

    def profile(self) -> None:
        self._api(PROFILE, f"/api/v1/users/{self._someone()}")

    def public_photos(self) -> None:
        self._api(PUBLIC_PHOTOS, f"/api/v1/users/{self._someone()}/photos")

    def feed_page(self) -> None:
        self._page(FEED_PAGE, "/")

    def my_photos_page(self) -> None:
        self._page(MY_PHOTOS_PAGE, "/photos")

    def photo_page(self) -> None:
        self._page(PHOTO_PAGE, f"/photos/{self._visible_photo()}")

    def profile_page(self) -> None:
        self._page(PROFILE_PAGE, f"/users/{self._someone()}")

    def upload_and_share(self) -> None:
        """Upload a small picture as a private photo, then share it with the account's friend."""
        filename, content_type, content = self.choices.choice(_Step.pictures)
        body, multipart_type = _multipart(
            {"caption": "bench upload", "visibility": "private"}, filename, content_type, content
        )
        headers = {**self.api_headers, "Content-Type": multipart_type}
        with self._request(UPLOAD, "/api/v1/photos", 201, data=body, headers=headers) as response:
            photo_id = _photo_id(response)
        if photo_id is None:
            return
        with self._request(
            SHARE,
            f"/api/v1/photos/{photo_id}/shares",
            201,
            json={"username": self.account.share_with},
            headers=self.api_headers,
        ):
            pass

    def _api(self, endpoint: Endpoint, path: str) -> None:
        with self._request(endpoint, path, 200, headers=self.api_headers):
            pass

    def _page(self, endpoint: Endpoint, path: str) -> None:
        # Not following redirects: a lost session's redirect to the login page is a failure.
        with self._request(endpoint, path, 200, allow_redirects=False) as response:
            if response.status_code == 200 and _LOGGED_IN_MARK not in (response.content or b""):
                response.failure("the page was not served to the logged-in user")

    @contextmanager
    def _request(
        self, endpoint: Endpoint, path: str, status: int, **options: Any
    ) -> Iterator[ResponseContextManager]:
        """Send a request named after `endpoint`; it fails unless it answers `status`."""
        with self.client.request(
            endpoint.method, path, name=endpoint.route, catch_response=True, **options
        ) as response:
            if response.status_code != status:
                response.failure(f"{endpoint.name} answered {response.status_code}, not {status}")
            yield response

    def _visible_photo(self) -> int:
        return self.choices.choice(self.account.visible_photo_ids)

    def _someone(self) -> str:
        return self.choices.choice(self.account.profiles)


_CYCLE: tuple[Endpoint, ...] = schedule()
_SENDERS: Mapping[Endpoint, Callable[[SnappyVisitor], None]] = {
    FEED: SnappyVisitor.feed,
    MY_PHOTOS: SnappyVisitor.my_photos,
    PHOTO: SnappyVisitor.photo,
    CONTENT: SnappyVisitor.content,
    THUMBNAIL: SnappyVisitor.thumbnail,
    PROFILE: SnappyVisitor.profile,
    PUBLIC_PHOTOS: SnappyVisitor.public_photos,
    FEED_PAGE: SnappyVisitor.feed_page,
    MY_PHOTOS_PAGE: SnappyVisitor.my_photos_page,
    PHOTO_PAGE: SnappyVisitor.photo_page,
    PROFILE_PAGE: SnappyVisitor.profile_page,
    UPLOAD: SnappyVisitor.upload_and_share,
}


def _photo_id(response: ResponseContextManager) -> int | None:
    if response.status_code != 201:
        return None
    try:
        return int(response.json()["id"])
    except (ValueError, KeyError, TypeError):
        response.failure("the upload answered no photo id")
        return None


def _multipart(
    fields: Mapping[str, str], filename: str, content_type: str, content: bytes
) -> tuple[bytes, str]:
    """A multipart/form-data body of text `fields` and one file part named `file`; and its Content-Type."""
    boundary = f"snappy-bench-{secrets.token_hex(12)}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _cookie(name: str, value: str, host: str) -> Cookie:
    """A host-only cookie for `host`, stored as the cookie jar stores the server's own.

    The jar keys a host-only cookie by the effective host name (`.local` added to a name
    without a dot), so the server's refreshed session cookie replaces this one.
    """
    domain = host if "." in host else f"{host}.local"
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=False,
        domain_initial_dot=False,
        path="/",
        path_specified=True,
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )
