"""The JSON shapes of the public contract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from snappy_monolith.models import Photo, Share, User
from snappy_monolith.pagination import Page

__all__ = ["page_json", "photo_json", "share_json", "timestamp", "user_json"]

T = TypeVar("T")


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def user_json(user: User) -> dict[str, Any]:
    """A user's public profile."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "created_at": timestamp(user.created_at),
    }


def photo_json(photo: Photo) -> dict[str, Any]:
    """A photo's metadata."""
    return {
        "id": photo.id,
        "owner": photo.owner.username,
        "caption": photo.caption,
        "visibility": photo.visibility,
        "content_type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": photo.size_bytes,
        "created_at": timestamp(photo.created_at),
    }


def share_json(share: Share) -> dict[str, Any]:
    """Who a photo is shared with, and since when."""
    return {"username": share.user.username, "created_at": timestamp(share.created_at)}


def page_json(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """A page of rendered items."""
    return {"items": [render(item) for item in page.items], "next_cursor": page.next_cursor}
