"""Sample data loaded into a running Snappy through its public HTTP API only.

Seeding again is safe: users that exist are logged in, and users that already own photos
get no new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.sample_images import sample_image

__all__ = [
    "DEFAULT_USERS",
    "DEMO_PASSWORD",
    "SeedError",
    "SeedSummary",
    "problem_detail",
    "sample_usernames",
    "seed",
]

DEMO_PASSWORD = "snappy-demo-password"  # noqa: S105 - published demo credentials
# How many sample users seeding signs up unless told otherwise: alice, bob and carol.
DEFAULT_USERS = 3
_NAMES = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
)  # fmt: skip
_API = "/api/v1"


class SeedError(DevstackError):
    """Sample data could not be loaded."""


@dataclass(frozen=True)
class SeedSummary:
    """What seeding did."""

    usernames: tuple[str, ...]
    password: str
    users_created: int
    photos_uploaded: int
    shares_created: int


def sample_usernames(count: int) -> list[str]:
    """`count` demo usernames: alice, bob, carol, ... then user20, user21, ..."""
    return [_NAMES[index] if index < len(_NAMES) else f"user{index + 1}" for index in range(count)]


def seed(
    base_url: str,
    *,
    users: int = DEFAULT_USERS,
    photos_per_user: int = 4,
    timeout_seconds: float = 15.0,
    progress: Callable[[str], None] = lambda _message: None,
) -> SeedSummary:
    """Sign up `users` demo users at `base_url`, upload their photos and share some."""
    if not base_url.startswith(("http://", "https://")):
        raise SeedError(f"the URL must start with http:// or https://, got {base_url!r}")
    if users < 1 or photos_per_user < 0:
        raise SeedError("need at least one user and a non-negative number of photos per user")
    timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout) as client:
        api = _Api(client, base_url)
        usernames = sample_usernames(users)
        tokens: dict[str, str] = {}
        created = 0
        for username in usernames:
            if api.sign_up(username):
                created += 1
                progress(f"signed up {username}")
            tokens[username] = api.log_in(username)

        uploaded = 0
        shares = 0
        for index, username in enumerate(usernames):
            token = tokens[username]
            if api.owns_photos(token):
                progress(f"{username} already has photos; leaving them as they are")
                continue
            friend = usernames[(index + 1) % len(usernames)] if len(usernames) > 1 else None
            for number in range(photos_per_user):
                public = number % 2 == 0
                photo_id = api.upload(token, index * 100 + number, public=public)
                uploaded += 1
                if friend is not None and not public and api.share(token, photo_id, friend):
                    shares += 1
            progress(f"uploaded {photos_per_user} photos for {username}")
    return SeedSummary(
        usernames=tuple(usernames),
        password=DEMO_PASSWORD,
        users_created=created,
        photos_uploaded=uploaded,
        shares_created=shares,
    )


class _Api:
    """The few calls of Snappy's public API that seeding makes."""

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    def sign_up(self, username: str) -> bool:
        """Sign `username` up; False when the username was already taken."""
        response = self._call(
            "POST",
            f"{_API}/users",
            json={
                "username": username,
                "password": DEMO_PASSWORD,
                "display_name": username.capitalize(),
            },
        )
        if response.status_code == 409:
            return False
        self._expect(response, 201)
        return True

    def log_in(self, username: str) -> str:
        """An access token for `username`."""
        response = self._call(
            "POST", f"{_API}/tokens", json={"username": username, "password": DEMO_PASSWORD}
        )
        if response.status_code == 401:
            raise SeedError(f"user {username!r} exists at {self._base_url} with another password")
        self._expect(response, 201)
        return str(self._json(response)["access_token"])

    def owns_photos(self, token: str) -> bool:
        """Whether the caller already owns at least one photo."""
        response = self._call("GET", f"{_API}/photos", token=token, params={"limit": 1})
        self._expect(response, 200)
        return bool(self._json(response).get("items"))

    def upload(self, token: str, number: int, *, public: bool) -> int:
        """Upload sample picture `number`; return the new photo's id."""
        picture = sample_image(number)
        response = self._call(
            "POST",
            f"{_API}/photos",
            token=token,
            files={"file": (picture.filename, picture.content, picture.content_type)},
            data={"caption": picture.caption, "visibility": "public" if public else "private"},
        )
        self._expect(response, 201)
        return int(self._json(response)["id"])

    def share(self, token: str, photo_id: int, username: str) -> bool:
        """Share a photo with `username`; False when it already was."""
        response = self._call(
            "POST", f"{_API}/photos/{photo_id}/shares", token=token, json={"username": username}
        )
        if response.status_code == 409:
            return False
        self._expect(response, 201)
        return True

    def _call(self, method: str, path: str, *, token: str | None = None, **options: Any) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._client.request(method, path, headers=headers, **options)
        except httpx.HTTPError as error:
            raise SeedError(f"cannot reach Snappy at {self._base_url}: {one_line(error)}") from error

    def _expect(self, response: httpx.Response, status: int) -> None:
        if response.status_code == status:
            return
        request = response.request
        message = f"{request.method} {request.url.path} answered {response.status_code}"
        detail = problem_detail(response)
        raise SeedError(f"{message}: {detail}" if detail else message)

    def _json(self, response: httpx.Response) -> Mapping[str, Any]:
        try:
            body = response.json()
        except ValueError as error:
            raise SeedError(f"{response.request.url.path} did not answer JSON") from error
        if not isinstance(body, Mapping):
            raise SeedError(f"{response.request.url.path} did not answer a JSON object")
        return body


def problem_detail(response: httpx.Response) -> str:
    """The first line of a problem document's `detail` (else its `title`); empty for any other body."""
    try:
        problem = response.json()
    except ValueError:
        return ""
    if not isinstance(problem, Mapping):
        return ""
    detail = str(problem.get("detail") or problem.get("title") or "").strip()
    return detail.splitlines()[0] if detail else ""
