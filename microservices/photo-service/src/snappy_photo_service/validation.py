"""The field rules of the public contract that photos and shares are held to."""

from __future__ import annotations

import re

from snappy_plumbing.errors import FieldError
from snappy_plumbing.validation import is_storable_text

__all__ = ["VISIBILITIES", "caption_errors", "visibility_errors"]

VISIBILITIES = ("private", "public")
# Captions may span lines, so tab, line feed and carriage return are allowed.
_CAPTION_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def caption_errors(caption: str, max_length: int) -> list[FieldError]:
    """Every rule a caption breaks."""
    if len(caption) > max_length:
        return [FieldError("caption", f"must be at most {max_length} characters")]
    if _CAPTION_FORBIDDEN.search(caption) or not is_storable_text(caption):
        return [FieldError("caption", "must not contain control characters other than tab and newline")]
    return []


def visibility_errors(visibility: str) -> list[FieldError]:
    """Every rule a visibility breaks."""
    if visibility not in VISIBILITIES:
        return [FieldError("visibility", "must be 'private' or 'public'")]
    return []
