"""The field rules of the public contract that photos and shares are held to."""

from __future__ import annotations

import re

from snappy_plumbing.errors import FieldError

__all__ = ["VISIBILITIES", "caption_errors", "is_valid_username", "visibility_errors"]

VISIBILITIES = ("private", "public")
USERNAME_PATTERN = re.compile(r"[a-z0-9_]{3,32}")
# Captions may span lines, so tab, line feed and carriage return are allowed.
_CAPTION_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_valid_username(username: str) -> bool:
    """True for a syntactically valid username (3-32 of a-z, 0-9, _); no other can exist."""
    return USERNAME_PATTERN.fullmatch(username) is not None


def caption_errors(caption: str, max_length: int) -> list[FieldError]:
    """Every rule a caption breaks."""
    if len(caption) > max_length:
        return [FieldError("caption", f"must be at most {max_length} characters")]
    if _CAPTION_FORBIDDEN.search(caption) or not _is_encodable(caption):
        return [FieldError("caption", "must not contain control characters other than tab and newline")]
    return []


def visibility_errors(visibility: str) -> list[FieldError]:
    """Every rule a visibility breaks."""
    if visibility not in VISIBILITIES:
        return [FieldError("visibility", "must be 'private' or 'public'")]
    return []


def _is_encodable(text: str) -> bool:
    # A lone surrogate (possible through JSON escapes) cannot be stored as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
