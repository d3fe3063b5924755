"""Photos from photo-service, for the monolith's pages once photo-service owns them.

From phase 2 (`snappy_monolith.ownership`) photo-service is the one writer of photos,
shares and their objects. The monolith keeps serving the pages (feed, my photos, upload,
a photo, its image, edits, shares, profiles) and reaches the photos through
photo-service's public API with the signed-in visitor's own token: photo-service decides
what the visitor may see and do, exactly as it does for the API, and the monolith's
photos and shares tables are not read or written again.

Answers become what the templates expect: `PhotoView` has the attributes of the
monolith's `Photo` that the pages show, with the owner's display name from user-service
(one lookup for all the owners of a page). Refusals become the monolith's own errors, by
the problem document's type, so a page shows them as it shows its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from snappy_monolith.config import Settings
from snappy_monolith.errors import (
    PROBLEM_TYPE_BASE,
    FieldError,
    ServiceUnavailable,
    SnappyError,
    ValidationFailed,
)
from snappy_monolith.user_directory import RemoteUsers

__all__ = ["FeedItem", "OwnerView", "PhotoPage", "PhotoView", "RemotePhotos", "ShareView", "UserRef"]

_UNAVAILABLE = "The photo service does not answer; try again shortly"


@dataclass(frozen=True)
class OwnerView:
    """A photo's owner as the pages name them."""

    username: str
    display_name: str


@dataclass(frozen=True)
class PhotoView:
    """A photo as photo-service answers it, with the attributes the pages read of a `Photo`."""

    id: int
    owner: OwnerView
    caption: str
    visibility: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    created_at: datetime


@dataclass(frozen=True)
class FeedItem:
    """One photo shared with the visitor (the feed's template reads `share.photo`)."""

    photo: PhotoView


@dataclass(frozen=True)
class UserRef:
    """Someone a photo is shared with."""

    username: str


@dataclass(frozen=True)
class ShareView:
    """A share as the photo page lists it."""

    user: UserRef
    created_at: datetime


@dataclass(frozen=True)
class PhotoPage:
    """A page of photos and the cursor of the next one."""

    items: list[PhotoView]
    next_cursor: str | None


class RemotePhotos:
    """photo-service's public API, called with the visitor's token."""

    def __init__(
        self, settings: Settings, users: RemoteUsers, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        if settings.photo_service_url is None:
            raise ValueError("SNAPPY_PHOTO_SERVICE_URL is not set")
        self._users = users
        self._client = httpx.Client(
            base_url=settings.photo_service_url,
            timeout=httpx.Timeout(settings.service_timeout_seconds),
            transport=transport,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def feed(self, token: str, limit: int, cursor: str | None) -> tuple[list[FeedItem], str | None]:
        """The photos shared with the visitor, most recently shared first."""
        page = self._page("/api/v1/feed", token, limit, cursor)
        return [FeedItem(photo) for photo in page.items], page.next_cursor

    def own_photos(self, token: str, limit: int, cursor: str | None) -> PhotoPage:
        """The visitor's photos, newest first."""
        return self._page("/api/v1/photos", token, limit, cursor)

    def public_photos(self, token: str, username: str, limit: int, cursor: str | None) -> PhotoPage:
        """A user's public photos, newest first."""
        return self._page(f"/api/v1/users/{_segment(username)}/photos", token, limit, cursor)

    def photo(self, token: str, photo_id: int) -> PhotoView:
        """A photo the visitor may see; 404 otherwise."""
        document = self._json(self._call("GET", f"/api/v1/photos/{photo_id}", token), 200)
        return self._views([document])[0]

    def shares(self, token: str, photo_id: int, limit: int) -> list[ShareView]:
        """Who the visitor's photo is shared with, newest share first."""
        response = self._call("GET", f"/api/v1/photos/{photo_id}/shares", token, params={"limit": limit})
        items = _items(self._json(response, 200))
        try:
            return [ShareView(UserRef(str(item["username"])), _moment(item["created_at"])) for item in items]
        except (KeyError, TypeError, ValueError):
            raise ServiceUnavailable(_UNAVAILABLE) from None

    def upload(
        self,
        token: str,
        *,
        data: bytes,
        caption: str,
        visibility: str,
        idempotency_key: str | None,
    ) -> int:
        """Upload an image; the new photo's id (the same photo again for a repeated key)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self._call(
            "POST",
            "/api/v1/photos",
            token,
            data={"caption": caption, "visibility": visibility},
            files={"file": ("upload", data, "application/octet-stream")},
            headers=headers,
        )
        if response.status_code not in (200, 201):
            raise _refusal(response)
        return _photo_id(_document(response))

    def update(self, token: str, photo_id: int, changes: dict[str, str]) -> None:
        """Change a photo's caption and/or visibility."""
        self._json(self._call("PATCH", f"/api/v1/photos/{photo_id}", token, json=changes), 200)

    def delete(self, token: str, photo_id: int) -> None:
        """Delete a photo, its objects and its shares."""
        self._expect(self._call("DELETE", f"/api/v1/photos/{photo_id}", token), 204)

    def share(self, token: str, photo_id: int, username: str) -> None:
        """Share a photo with a user."""
        response = self._call("POST", f"/api/v1/photos/{photo_id}/shares", token, json={"username": username})
        self._expect(response, 201)

    def revoke(self, token: str, photo_id: int, username: str) -> None:
        """Stop sharing a photo with a user."""
        response = self._call("DELETE", f"/api/v1/photos/{photo_id}/shares/{_segment(username)}", token)
        self._expect(response, 204)

    def content(self, token: str, photo_id: int, *, thumbnail: bool) -> tuple[bytes, str]:
        """An image's bytes and media type, under the same visibility rule."""
        kind = "thumbnail" if thumbnail else "content"
        response = self._call("GET", f"/api/v1/photos/{photo_id}/{kind}", token)
        self._expect(response, 200)
        return response.content, response.headers.get("Content-Type", "application/octet-stream")

    def _page(self, path: str, token: str, limit: int, cursor: str | None) -> PhotoPage:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        document = self._json(self._call("GET", path, token, params=params), 200)
        next_cursor = document.get("next_cursor")
        return PhotoPage(self._views(_items(document)), next_cursor if isinstance(next_cursor, str) else None)

    def _views(self, items: Iterable[Any]) -> list[PhotoView]:
        """Photo documents as views, with every owner's display name from one lookup."""
        documents = list(items)
        owners = {str(item.get("owner")) for item in documents if isinstance(item, dict)}
        names = self._users.display_names(owners)
        try:
            return [
                PhotoView(
                    id=int(item["id"]),
                    owner=OwnerView(str(item["owner"]), names.get(str(item["owner"]), str(item["owner"]))),
                    caption=str(item["caption"]),
                    visibility=str(item["visibility"]),
                    content_type=str(item["content_type"]),
                    width=int(item["width"]),
                    height=int(item["height"]),
                    size_bytes=int(item["size_bytes"]),
                    created_at=_moment(item["created_at"]),
                )
                for item in documents
            ]
        except (KeyError, TypeError, ValueError):
            raise ServiceUnavailable(_UNAVAILABLE) from None

    def _call(self, method: str, path: str, token: str, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
        try:
            return self._client.request(method, path, headers=headers, **options)
        except httpx.HTTPError:
            raise ServiceUnavailable(_UNAVAILABLE) from None

    def _json(self, response: httpx.Response, status: int) -> dict[str, Any]:
        self._expect(response, status)
        return _document(response)

    @staticmethod
    def _expect(response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            raise _refusal(response)


def _refusal(response: httpx.Response) -> SnappyError:
    """photo-service's refusal as the monolith's error of the same type; 503 for anything else."""
    if response.status_code >= 500 or response.status_code < 400:
        return ServiceUnavailable(_UNAVAILABLE)
    try:
        document = response.json()
    except ValueError:
        return ServiceUnavailable(_UNAVAILABLE)
    if not isinstance(document, dict):
        return ServiceUnavailable(_UNAVAILABLE)
    slug = str(document.get("type", "")).removeprefix(PROBLEM_TYPE_BASE)
    detail = document.get("detail")
    detail = detail if isinstance(detail, str) else None
    errors = document.get("errors")
    if slug == ValidationFailed.slug and isinstance(errors, list):
        return ValidationFailed(
            [
                FieldError(str(item.get("field", "")), str(item.get("message", "")))
                for item in errors
                if isinstance(item, dict)
            ]
        )
    kind = _ERRORS_BY_SLUG.get(slug)
    if kind is None or kind.status != response.status_code:
        return ServiceUnavailable(_UNAVAILABLE)
    return kind(detail)


def _simple_errors() -> dict[str, type[SnappyError]]:
    """The monolith's errors built from a detail alone, by slug (the others are handled apart)."""
    found: dict[str, type[SnappyError]] = {}
    pending: list[type[SnappyError]] = [SnappyError]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind.__init__ is SnappyError.__init__:
            found[kind.slug] = kind
    return found


_ERRORS_BY_SLUG = _simple_errors()


def _document(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise ServiceUnavailable(_UNAVAILABLE) from None
    if not isinstance(document, dict):
        raise ServiceUnavailable(_UNAVAILABLE)
    return document


def _items(document: dict[str, Any]) -> list[Any]:
    items = document.get("items")
    if not isinstance(items, list):
        raise ServiceUnavailable(_UNAVAILABLE)
    return items


def _photo_id(document: dict[str, Any]) -> int:
    photo_id = document.get("id")
    if not isinstance(photo_id, int) or isinstance(photo_id, bool):
        raise ServiceUnavailable(_UNAVAILABLE)
    return photo_id


def _moment(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def _segment(value: str) -> str:
    """A path segment: every character a path could read otherwise, percent-encoded."""
    return quote(value, safe="")
