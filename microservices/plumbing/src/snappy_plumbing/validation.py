"""Field rules of the public contract that more than one service holds requests to."""

from __future__ import annotations

import re

__all__ = ["USERNAME_PATTERN", "is_storable_text", "is_valid_username"]

USERNAME_PATTERN = re.compile(r"[a-z0-9_]{3,32}")


def is_valid_username(username: str) -> bool:
    """True for a syntactically valid username (3-32 of a-z, 0-9, _); no other can exist."""
    return USERNAME_PATTERN.fullmatch(username) is not None


def is_storable_text(text: str) -> bool:
    """False for text that cannot be stored as UTF-8: a lone surrogate, possible through JSON escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
