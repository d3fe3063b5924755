"""What each user sees, read from two versions of Snappy and compared exactly.

After the data migration, a user logging in on the microservices must find exactly what
the monolith shows them: their profile, their photos, the photos shared with them, each
photo's shares, and the same bytes for every picture and thumbnail. Ids and timestamps
are preserved by the migration, so nothing is normalized: the statuses, content types and
bodies (JSON documents as parsed, pictures by SHA-256) must be equal.

What one user reads on one version (`user_reads`) is also the traffic `snappy browse`
sends to a running Snappy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx

from snappy_devstack.errors import DevstackError, one_line

__all__ = [
    "Read",
    "UserViewsError",
    "Version",
    "View",
    "compare_user_views",
    "first_difference",
    "open_version",
    "user_reads",
]

_API = "/api/v1"
_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# The contract's largest page: fewer requests, and the same pages on both sides.
_PAGE_SIZE = 100
# A bound on pages per list, so a cursor that never ends cannot loop forever.
_MAX_PAGES = 1_000
# Values quoted in a difference line are cut to this many characters.
_SHOWN_CHARACTERS = 120
# What is read of each photo a user owns, after the photo itself.
_PHOTO_SUFFIXES = ("", "/shares", "/content", "/thumbnail")


class UserViewsError(DevstackError):
    """A version of Snappy could not be asked what a user sees (it did not answer)."""


@dataclass(frozen=True)
class View:
    """One answer as a user sees it: status, content type, and the body (JSON, or a digest of the bytes)."""

    status: int
    content_type: str
    body: Any


def compare_user_views(
    monolith_url: str, microservices_url: str, usernames: Sequence[str], password: str
) -> list[str]:
    """Every difference between what `usernames` see on the two versions; an empty list when none.

    Each user logs in on both with `password`, then reads the same resources on both:
    `/users/me`, their public profile, every page of their photos, of their feed and of
    their public photos, and, for each photo they own, its metadata, its shares, its
    content and its thumbnail. One line per difference, naming the user and the request.
    Raises UserViewsError when a version does not answer at all.
    """
    differences: list[str] = []
    with ExitStack() as versions:
        monolith = versions.enter_context(open_version("monolith", monolith_url))
        microservices = versions.enter_context(open_version("microservices", microservices_url))
        for username in usernames:
            differences += _compare_user(monolith, microservices, username, password)
    return differences


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    """Where two JSON documents first differ (`items[2].caption: 'a' != 'b'`), or None when equal.

    `left` is the monolith's, `right` the microservices'.
    """
    if type(left) is type(right) and isinstance(left, dict):
        return _first_difference_in_objects(left, right, path)
    if type(left) is type(right) and isinstance(left, list):
        return _first_difference_in_arrays(left, right, path)
    if type(left) is not type(right) or left != right:
        return f"{path or 'body'}: {_shown(left)} != {_shown(right)}"
    return None


def _first_difference_in_objects(left: dict[Any, Any], right: dict[Any, Any], path: str) -> str | None:
    for key in sorted(left.keys() | right.keys(), key=str):
        where = f"{path}.{key}" if path else str(key)
        if key not in right:
            return f"{where}: only on the monolith"
        if key not in left:
            return f"{where}: only on the microservices"
        found = first_difference(left[key], right[key], where)
        if found is not None:
            return found
    return None


def _first_difference_in_arrays(left: list[Any], right: list[Any], path: str) -> str | None:
    for index, (left_item, right_item) in enumerate(zip(left, right, strict=False)):
        found = first_difference(left_item, right_item, f"{path}[{index}]")
        if found is not None:
            return found
    if len(left) != len(right):
        return f"{path or 'body'}: {len(left)} items != {len(right)} items"
    return None


@dataclass(frozen=True)
class Read:
    """One request of what a user reads, and the answer to it."""

    method: str
    path: str
    view: View
    # Which page of a list this is (from 1); None for a single resource.
    page: int | None = None
    # The photo this read is about, for the reads of each photo the user owns.
    photo_id: int | None = None
    # The access token a log-in issued; never compared, since tokens carry their issue time.
    token: str | None = field(default=None, repr=False, compare=False)

    @property
    def request(self) -> str:
        """How reports name the request: `GET /api/v1/feed (page 2)`."""
        named = f"{self.method} {self.path}"
        return named if self.page is None else f"{named} (page {self.page})"


@dataclass(frozen=True)
class Version:
    """One version of Snappy, and the HTTP client that talks to it."""

    name: str
    client: httpx.Client

    def log_in(self, username: str, password: str) -> tuple[View, str | None]:
        """Log in; the answer, and the access token when one was issued."""
        response = self._send("POST", f"{_API}/tokens", json={"username": username, "password": password})
        view = _view(response)
        if response.status_code != 201 or not isinstance(view.body, dict):
            return view, None
        token = view.body.get("access_token")
        # Tokens carry their issue time, so they differ: only the rest of the answer is compared.
        rest = {key: value for key, value in view.body.items() if key != "access_token"}
        return View(view.status, view.content_type, rest), token if isinstance(token, str) else None

    def get(
        self,
        path: str,
        token: str | None = None,
        params: dict[str, str | int] | None = None,
        *,
        accept: str = "application/json",
    ) -> View:
        """GET `path` as the holder of `token` (anonymously without one), accepting `accept`."""
        return _view(self._send("GET", path, token=token, params=params, accept=accept))

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, str | int] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        headers = {"Accept": accept}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.client.request(method, path, headers=headers, json=json, params=params)
        except httpx.HTTPError as error:
            raise UserViewsError(
                f"the {self.name} at {self.client.base_url} did not answer {method} {path}: {one_line(error)}"
            ) from error


@contextmanager
def open_version(name: str, base_url: str) -> Iterator[Version]:
    """The version of Snappy at `base_url`, called `name` in messages, while the context lasts."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=_TIMEOUT, follow_redirects=False) as client:
        yield Version(name, client)


def user_reads(version: Version, username: str, password: str) -> Iterator[Read]:
    """What `username` reads on `version`, request by request, as they are answered.

    First the log-in (POST /api/v1/tokens, the one request that is not a GET); when it
    issues no token, nothing follows it. Then `/users/me`, the user's public profile, every
    page of their photos, of their feed and of their public photos, and, for each photo
    they own (by id), its metadata, its shares, its content and its thumbnail.
    Raises UserViewsError when the version does not answer a request.
    """
    login, token = version.log_in(username, password)
    yield Read("POST", f"{_API}/tokens", login, token=token)
    if token is None:
        return
    name = quote(username, safe="")
    for path in (f"{_API}/users/me", f"{_API}/users/{name}"):
        yield Read("GET", path, version.get(path, token))
    own_photo_ids: set[int] = set()
    for path in (f"{_API}/photos", f"{_API}/feed", f"{_API}/users/{name}/photos"):
        for number, page in enumerate(_pages(version, path, token), start=1):
            yield Read("GET", path, page, page=number)
            if path == f"{_API}/photos":
                own_photo_ids.update(item["id"] for item in _items(page))
    for photo_id in sorted(own_photo_ids):
        for suffix in _PHOTO_SUFFIXES:
            path = f"{_API}/photos/{photo_id}{suffix}"
            yield Read("GET", path, version.get(path, token), photo_id=photo_id)


def _compare_user(monolith: Version, microservices: Version, username: str, password: str) -> list[str]:
    differences: list[str] = []

    def compare(request: str, left: View, right: View) -> None:
        found = _view_difference(left, right)
        if found is not None:
            differences.append(f"{username}: {request}: {found}")

    left_login, *left_reads = user_reads(monolith, username, password)
    right_login, *right_reads = user_reads(microservices, username, password)
    compare(left_login.request, left_login.view, right_login.view)
    left_token, right_token = left_login.token, right_login.token
    if left_token is None or right_token is None:
        if left_token is None and right_token is None:
            differences.append(
                f"{username}: cannot log in on either version (status {left_login.view.status})"
            )
        return differences

    left_by_path, right_by_path = _by_path(left_reads), _by_path(right_reads)
    for path in _paths_in_order(left_by_path, right_by_path):
        # A photo one version lists and the other does not is still read on both: the one
        # that does not list it says how it answers for it.
        left = left_by_path.get(path) or [
            replace(right_by_path[path][0], view=monolith.get(path, left_token))
        ]
        right = right_by_path.get(path) or [replace(left[0], view=microservices.get(path, right_token))]
        for left_read, right_read in zip(left, right, strict=False):
            compare(left_read.request, left_read.view, right_read.view)
        if len(left) != len(right):
            differences.append(
                f"{username}: GET {path}: {len(left)} pages on the monolith"
                f" != {len(right)} on the microservices"
            )
    return differences


def _by_path(reads: list[Read]) -> dict[str, list[Read]]:
    """The reads of each path, in order (the pages of a list share one path)."""
    by_path: dict[str, list[Read]] = {}
    for read in reads:
        by_path.setdefault(read.path, []).append(read)
    return by_path


def _paths_in_order(left: dict[str, list[Read]], right: dict[str, list[Read]]) -> list[str]:
    """Every path either side read: the user's own resources and lists first, then photo by photo."""
    paths = list(left) + [path for path in right if path not in left]

    def photo_order(path: str) -> tuple[int, int]:
        photo_id = (left.get(path) or right[path])[0].photo_id
        return (0, 0) if photo_id is None else (1, photo_id)

    # Sorting is stable: each photo's own reads keep their order.
    return sorted(paths, key=photo_order)


def _pages(version: Version, path: str, token: str) -> Iterator[View]:
    """Every page of a list, following `next_cursor` until it is null or the answer is not a list."""
    params: dict[str, str | int] = {"limit": _PAGE_SIZE}
    for _ in range(_MAX_PAGES):
        page = version.get(path, token, params)
        yield page
        cursor = page.body.get("next_cursor") if page.status == 200 and isinstance(page.body, dict) else None
        if not isinstance(cursor, str):
            return
        params = {"limit": _PAGE_SIZE, "cursor": cursor}


def _items(page: View) -> list[dict[str, Any]]:
    if page.status != 200 or not isinstance(page.body, dict) or not isinstance(page.body.get("items"), list):
        return []
    return [item for item in page.body["items"] if isinstance(item, dict) and isinstance(item.get("id"), int)]


def _view(response: httpx.Response) -> View:
    content_type = response.headers.get("Content-Type", "")
    body: Any
    if content_type.split(";")[0].strip().endswith("json"):
        try:
            body = response.json()
        except ValueError:
            body = f"{len(response.content)} bytes of invalid JSON, sha256 {_digest(response.content)}"
    else:
        body = f"{len(response.content)} bytes, sha256 {_digest(response.content)}"
    return View(response.status_code, content_type, body)


def _view_difference(left: View, right: View) -> str | None:
    if left.status != right.status:
        return f"status {left.status} != {right.status}"
    if left.content_type != right.content_type:
        return f"Content-Type {left.content_type!r} != {right.content_type!r}"
    return first_difference(left.body, right.body)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."
