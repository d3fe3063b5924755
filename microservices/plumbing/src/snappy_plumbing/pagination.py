"""Keyset pagination with opaque cursors: newest first, by id descending."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from snappy_plumbing.errors import InvalidParameter

__all__ = ["Page", "PageRequest", "encode_cursor", "page_from_rows", "parse_page_request"]

T = TypeVar("T")
_CURSOR_PREFIX = "v1:"
_DIGITS = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class PageRequest:
    """At most `limit` items with ids below `before_id` (None: from the newest)."""

    limit: int
    before_id: int | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of items and the cursor of the next page (None on the last one)."""

    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """The opaque cursor for the page after the item with `last_id`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def parse_page_request(
    raw_limit: str | None, raw_cursor: str | None, default_limit: int, max_limit: int
) -> PageRequest:
    """Validate the `limit` and `cursor` query parameters; raise 400 invalid-parameter."""
    limit = default_limit
    if raw_limit is not None:
        if not _DIGITS.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= max_limit:
            raise InvalidParameter(f"limit must be a whole number from 1 to {max_limit}")
        limit = int(raw_limit)
    before_id = None if raw_cursor is None else _decode_cursor(raw_cursor)
    return PageRequest(limit=limit, before_id=before_id)


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameter("cursor is not one this server issued") from None
    digits = decoded.removeprefix(_CURSOR_PREFIX)
    if not decoded.startswith(_CURSOR_PREFIX) or not _DIGITS.fullmatch(digits):
        raise InvalidParameter("cursor is not one this server issued")
    value = int(digits)
    if not 1 <= value <= _MAX_ID:
        raise InvalidParameter("cursor is not one this server issued")
    return value


def page_from_rows(rows: Sequence[T], request: PageRequest, item_id: Callable[[T], int]) -> Page[T]:
    """Cut the `limit + 1` rows fetched into a page, with a cursor when more remain."""
    items = rows[: request.limit]
    if len(rows) > request.limit:
        return Page(items=items, next_cursor=encode_cursor(item_id(items[-1])))
    return Page(items=items, next_cursor=None)
