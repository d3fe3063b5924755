"""Clients of user-service and photo-service, through their public API, with the user's token.

Every call goes through a `snappy_plumbing.peers.PeerClient`, with its timeouts and its
retries of reads (GET). Writes (POST, PATCH, DELETE) are sent once, keyed uploads
included, and wait `write_timeout_seconds`, longer than the services' request budget, so
a write a service completes within its budget is never reported failed here
(docs/security.md, "Deadlines and idempotency"). A keyed upload is retried by the
visitor's browser instead (the same form, the same key), within the edge's timeout.

A problem document from a peer becomes the matching `snappy_plumbing.errors` exception,
so the pages handle errors as the monolith's pages do. A peer that does not answer, or
answers 5xx or something that is not the public contract, becomes `PeerUnavailable`,
which the pages render as a degraded page (503).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from snappy_plumbing.errors import (
    AlreadyShared,
    AuthenticationRequired,
    FieldError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ImageTooLarge,
    InvalidCredentials,
    InvalidImage,
    InvalidParameter,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    SnappyError,
    TooManyAttempts,
    UnsupportedMediaType,
    UsernameTaken,
    UserNotFound,
    ValidationFailed,
)
from snappy_plumbing.peers import PeerClient, PeerUnavailable
from snappy_web_ui.config import PeerSettings

__all__ = [
    "ImageStream",
    "PeerUnavailable",
    "Photo",
    "PhotoPage",
    "PhotoServiceClient",
    "Share",
    "SharedWith",
    "User",
    "UserServiceClient",
]

logger = logging.getLogger(__name__)

API = "/api/v1"
# Problem types a peer may answer with, by slug; validation-failed is built apart (field errors).
_PROBLEM_TYPES: dict[str, type[SnappyError]] = {
    error.slug: error
    for error in (
        MalformedRequest,
        InvalidParameter,
        AuthenticationRequired,
        InvalidCredentials,
        NotFound,
        UserNotFound,
        UsernameTaken,
        AlreadyShared,
        PayloadTooLarge,
        UnsupportedMediaType,
        InvalidImage,
        ImageTooLarge,
        IdempotencyKeyInUse,
        IdempotencyKeyReused,
    )
}
_IMAGE_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class User:
    """A user's public profile."""

    id: int
    username: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True)
class Photo:
    """A photo's metadata; `owner` is the owner's username."""

    id: int
    owner: str
    caption: str
    visibility: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    created_at: datetime


@dataclass(frozen=True)
class PhotoPage:
    """One page of photos, and the cursor of the next one."""

    items: list[Photo]
    next_cursor: str | None


@dataclass(frozen=True)
class SharedWith:
    """The user a photo is shared with."""

    username: str


@dataclass(frozen=True)
class Share:
    """Who a photo is shared with, and since when."""

    user: SharedWith
    created_at: datetime


class ImageStream:
    """Image bytes being received from photo-service; close it when done."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.content_type = response.headers.get("Content-Type", "application/octet-stream")
        self.content_length = response.headers.get("Content-Length")

    def chunks(self) -> Iterator[bytes]:
        """The bytes, a chunk at a time."""
        try:
            yield from self._response.iter_bytes(_IMAGE_CHUNK_BYTES)
        except httpx.HTTPError as exc:
            # The status line is already sent: all that is left is to cut the response short.
            logger.warning("photo-service stopped sending an image", extra={"error": str(exc)})
        finally:
            self._response.close()

    def close(self) -> None:
        """Release the connection."""
        self._response.close()


class _PeerClient:
    """Calls to one peer through the public API: problem documents become exceptions."""

    def __init__(
        self,
        name: str,
        base_url: str,
        settings: PeerSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._peer = PeerClient(name, base_url, settings.calls, sleep=sleep, transport=transport)

    def close(self) -> None:
        """Close the pooled connections."""
        self._peer.close()

    def _read(self, path: str, token: str | None, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a JSON document."""
        response = self._peer.read("GET", path, headers=_authorization(token), params=params)
        return _document(self.name, _checked(self.name, response))

    def _open(self, path: str, token: str) -> httpx.Response:
        """GET a body to stream (the caller closes it)."""
        response = self._peer.read("GET", path, headers=_authorization(token), stream=True)
        if not response.is_success:
            response.read()
            response.close()
        return _checked(self.name, response)

    def _write(
        self,
        method: str,
        path: str,
        token: str | None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send a write once, waiting up to the write timeout; the JSON answer, or None for 204."""
        response = self._peer.write(
            method,
            path,
            answer_timeout_seconds=self._settings.write_timeout_seconds,
            headers={**_authorization(token), **(headers or {})},
            **kwargs,
        )
        response = _checked(self.name, response)
        return None if response.status_code == 204 else _document(self.name, response)


class UserServiceClient(_PeerClient):
    """Sign-up, log-in and public profiles, from user-service.

    Profiles are kept by username for `user_cache_ttl_seconds`: usernames and display
    names never change in Snappy, so pages of photos by known owners need no call, and
    keep rendering while user-service is down. A username user-service does not know is
    never remembered, so someone who signs up is found at once.
    """

    def __init__(
        self,
        settings: PeerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            "user-service", settings.user_service_url, settings, sleep=sleep, transport=transport
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._profiles: dict[str, tuple[User, float]] = {}

    def sign_up(self, username: str, password: str, display_name: str) -> User:
        """Create an account."""
        body = {"username": username, "password": password, "display_name": display_name}
        user = _user(self.name, self._write("POST", f"{API}/users", None, json=body))
        self._remember(user)
        return user

    def log_in(self, username: str, password: str, client_address: str | None = None) -> str:
        """An access token for these credentials; TooManyAttempts while the throttle blocks them."""
        # web-ui is a proxy here: user-service, trusting one hop, counts the attempt against
        # the visitor's address rather than against web-ui's.
        headers = {"X-Forwarded-For": client_address} if client_address else None
        document = self._write(
            "POST", f"{API}/tokens", None, headers, json={"username": username, "password": password}
        )
        token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str):
            raise _off_contract(self.name, "a token without access_token")
        return token

    def log_out(self, token: str) -> None:
        """Revoke this access token (`DELETE /api/v1/tokens/current`): it opens nothing afterwards."""
        self._write("DELETE", f"{API}/tokens/current", token)

    def user(self, username: str, token: str) -> User:
        """The profile of `username`; NotFound when there is no such user."""
        cached = self._cached(username)
        if cached is not None:
            return cached
        user = _user(self.name, self._read(f"{API}/users/{_segment(username)}", token))
        self._remember(user)
        return user

    def users(self, usernames: set[str], token: str) -> dict[str, User]:
        """Profiles by username; users user-service no longer knows are left out."""
        found: dict[str, User] = {}
        for username in sorted(usernames):
            try:
                found[username] = self.user(username, token)
            except NotFound:
                continue
        return found

    def _cached(self, username: str) -> User | None:
        with self._lock:
            entry = self._profiles.get(username)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def _remember(self, user: User) -> None:
        now = self._clock()
        with self._lock:
            if len(self._profiles) > _MAX_CACHED_PROFILES:
                self._profiles = {key: entry for key, entry in self._profiles.items() if entry[1] > now}
            self._profiles[user.username] = (user, now + self._settings.user_cache_ttl_seconds)


# Expired profiles are swept once the cache holds more than this many.
_MAX_CACHED_PROFILES = 10_000


class PhotoServiceClient(_PeerClient):
    """Photos, their bytes, shares and the feed, from photo-service."""

    def __init__(
        self,
        settings: PeerSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            "photo-service", settings.photo_service_url, settings, sleep=sleep, transport=transport
        )

    def feed(self, token: str, limit: int, cursor: str | None) -> PhotoPage:
        """Photos shared with the caller, most recent share first."""
        return self._page(f"{API}/feed", token, limit, cursor)

    def own_photos(self, token: str, limit: int, cursor: str | None) -> PhotoPage:
        """The caller's photos, newest first."""
        return self._page(f"{API}/photos", token, limit, cursor)

    def public_photos(self, token: str, username: str, limit: int, cursor: str | None) -> PhotoPage:
        """A user's public photos, newest first."""
        return self._page(f"{API}/users/{_segment(username)}/photos", token, limit, cursor)

    def photo(self, token: str, photo_id: int) -> Photo:
        """A photo the caller may see; NotFound otherwise."""
        return _photo(self.name, self._read(f"{API}/photos/{photo_id}", token))

    def shares(self, token: str, photo_id: int, limit: int) -> list[Share]:
        """Who the caller's photo is shared with, newest share first."""
        document = self._read(f"{API}/photos/{photo_id}/shares", token, {"limit": limit})
        return [_share(self.name, item) for item in _items(self.name, document)]

    def upload(
        self,
        token: str,
        *,
        data: bytes,
        filename: str,
        caption: str,
        visibility: str,
        idempotency_key: str | None = None,
    ) -> Photo:
        """Upload an image; with a key, photo-service stores it at most once (Idempotency-Key)."""
        form = {"caption": caption, "visibility": visibility}
        files = {"file": (filename, data, "application/octet-stream")}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        document = self._write("POST", f"{API}/photos", token, headers, data=form, files=files)
        return _photo(self.name, document)

    def update(self, token: str, photo_id: int, changes: dict[str, str]) -> Photo:
        """Change caption and/or visibility."""
        return _photo(self.name, self._write("PATCH", f"{API}/photos/{photo_id}", token, json=changes))

    def delete(self, token: str, photo_id: int) -> None:
        """Delete a photo."""
        self._write("DELETE", f"{API}/photos/{photo_id}", token)

    def share(self, token: str, photo_id: int, username: str) -> None:
        """Share a photo with a user."""
        self._write("POST", f"{API}/photos/{photo_id}/shares", token, json={"username": username})

    def revoke(self, token: str, photo_id: int, username: str) -> None:
        """Stop sharing a photo with a user."""
        self._write("DELETE", f"{API}/photos/{photo_id}/shares/{_segment(username)}", token)

    def content(self, token: str, photo_id: int) -> ImageStream:
        """The image as uploaded."""
        return ImageStream(self._open(f"{API}/photos/{photo_id}/content", token))

    def thumbnail(self, token: str, photo_id: int) -> ImageStream:
        """The JPEG thumbnail."""
        return ImageStream(self._open(f"{API}/photos/{photo_id}/thumbnail", token))

    def _page(self, path: str, token: str, limit: int, cursor: str | None) -> PhotoPage:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        document = self._read(path, token, params)
        next_cursor = document.get("next_cursor")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise _off_contract(self.name, "a page whose next_cursor is not a string")
        items = [_photo(self.name, item) for item in _items(self.name, document)]
        return PhotoPage(items=items, next_cursor=next_cursor)


def _authorization(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _checked(peer: str, response: httpx.Response) -> httpx.Response:
    """The response when it is a success; the error it stands for otherwise."""
    if response.is_success:
        return response
    if response.status_code >= 500:
        raise _unavailable_answer(peer, response)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or not isinstance(problem.get("type"), str):
        raise _unavailable_answer(peer, response)
    slug = problem["type"].rsplit("/", 1)[-1]
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else None
    if slug == "validation-failed":
        errors = [
            FieldError(str(item.get("field", "")), str(item.get("message", "")))
            for item in problem.get("errors") or []
            if isinstance(item, dict)
        ]
        error: SnappyError = ValidationFailed(errors)
        if detail:
            error.detail = detail
        raise error
    if slug == "too-many-attempts":
        raise TooManyAttempts(_retry_after_seconds(peer, response))
    error_type = _PROBLEM_TYPES.get(slug)
    if error_type is None:
        raise _unavailable_answer(peer, response)
    raise error_type(detail)


def _retry_after_seconds(peer: str, response: httpx.Response) -> int:
    """The whole seconds of a 429's Retry-After, which the contract requires."""
    value = response.headers.get("Retry-After", "")
    if not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise _off_contract(peer, "a 429 without a Retry-After in whole seconds")
    return int(value)


def _unavailable_answer(peer: str, response: httpx.Response) -> PeerUnavailable:
    logger.error(
        "peer answered with an error",
        extra={"peer": peer, "status": response.status_code, "body": response.text[:500]},
    )
    return PeerUnavailable(f"{peer} does not answer")


def _off_contract(peer: str, what: str) -> PeerUnavailable:
    logger.error("peer answered outside the public contract", extra={"peer": peer, "answer": what})
    return PeerUnavailable(f"{peer} does not answer")


def _document(peer: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _off_contract(peer, "a body that is not JSON") from None


def _items(peer: str, document: Any) -> list[Any]:
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise _off_contract(peer, "a page without items")
    return items


def _user(peer: str, document: Any) -> User:
    try:
        return User(
            id=int(document["id"]),
            username=str(document["username"]),
            display_name=str(document["display_name"]),
            created_at=datetime.fromisoformat(document["created_at"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _off_contract(peer, "a user that is not a User") from None


def _photo(peer: str, document: Any) -> Photo:
    try:
        return Photo(
            id=int(document["id"]),
            owner=str(document["owner"]),
            caption=str(document["caption"]),
            visibility=str(document["visibility"]),
            content_type=str(document["content_type"]),
            width=int(document["width"]),
            height=int(document["height"]),
            size_bytes=int(document["size_bytes"]),
            created_at=datetime.fromisoformat(document["created_at"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _off_contract(peer, "a photo that is not a Photo") from None


def _share(peer: str, document: Any) -> Share:
    try:
        return Share(
            user=SharedWith(username=str(document["username"])),
            created_at=datetime.fromisoformat(document["created_at"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _off_contract(peer, "a share that is not a Share") from None
