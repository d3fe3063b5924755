"""The JSON shapes of users, in the public contract and the internal one alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from snappy_user_service.models import User

__all__ = ["timestamp", "user_json"]


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
