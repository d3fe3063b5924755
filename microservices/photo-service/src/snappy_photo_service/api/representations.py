"""The JSON shapes of the public contract.

Rows name users by id; the usernames come with each call, resolved in one batch. An item
whose user user-service no longer knows is left out of a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from snappy_photo_service.models import Photo, Share
from snappy_plumbing.pagination import Page

__all__ = ["photo_json", "photo_page_json", "share_json", "share_page_json", "timestamp"]


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def photo_json(photo: Photo, owner: str) -> dict[str, Any]:
    """A photo's metadata; `owner` is its owner's username."""
    return {
        "id": photo.id,
        "owner": owner,
        "caption": photo.caption,
        "visibility": photo.visibility,
        "content_type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": photo.size_bytes,
        "created_at": timestamp(photo.created_at),
    }


def share_json(share: Share, username: str) -> dict[str, Any]:
    """Who a photo is shared with, and since when."""
    return {"username": username, "created_at": timestamp(share.created_at)}


def photo_page_json(page: Page[Photo], usernames: Mapping[int, str]) -> dict[str, Any]:
    """A page of photos, their owners named by `usernames`."""
    items = [
        photo_json(photo, usernames[photo.owner_id]) for photo in page.items if photo.owner_id in usernames
    ]
    return {"items": items, "next_cursor": page.next_cursor}


def share_page_json(page: Page[Share], usernames: Mapping[int, str]) -> dict[str, Any]:
    """A page of shares, their users named by `usernames`."""
    items = [
        share_json(share, usernames[share.user_id]) for share in page.items if share.user_id in usernames
    ]
    return {"items": items, "next_cursor": page.next_cursor}
