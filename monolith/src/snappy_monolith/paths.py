"""The request path as the application routes it, refused when it could be read two ways.

The microservices' edge applies the same rule before it routes (`snappy_edge.app`),
so both versions answer an ambiguous spelling (dot segments, `//`, encoded slashes,
percent-encoded unreserved or control characters, invalid escapes) with the same 400
ambiguous-path problem. The monolith keeps its own copy, as it keeps its own error
hierarchy; a test holds the two rules to the same answers.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from flask import request

from snappy_monolith.errors import AmbiguousPath

__all__ = ["decision_path", "refuse_ambiguous_paths"]

# RFC 3986 section 3.3: what a path may hold as it is, besides "/" and percent escapes.
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_PERCENT_ESCAPE = re.compile(r"%(.?.?)")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Encoded, these would split or join segments for a server that decodes before it routes.
_ENCODED_SEPARATORS = frozenset(b"/\\")


def decision_path(raw_path: str) -> str:
    """The path a route is decided on: `raw_path` percent-decoded, when it has one reading only.

    Raises AmbiguousPath for any spelling that another server (httpx, an upstream router, a
    normalizing proxy) could read as a different path.
    """
    if not raw_path.startswith("/"):
        raise AmbiguousPath("The request target must be a path starting with '/'")
    if _PATH_CHARACTERS.fullmatch(raw_path) is None:
        raise AmbiguousPath(
            "The path holds a character a path may not hold as it is (a control character, "
            "a space, a backslash, a non-ASCII character, ...)"
        )
    for escape in _PERCENT_ESCAPE.finditer(raw_path):
        hex_digits = escape.group(1)
        if _HEX_PAIR.fullmatch(hex_digits) is None:
            raise AmbiguousPath("The path holds an invalid percent escape")
        byte = int(hex_digits, 16)
        if byte in _UNRESERVED:
            raise AmbiguousPath(f"The path percent-encodes {chr(byte)!r}, which must be written as it is")
        if byte in _ENCODED_SEPARATORS:
            raise AmbiguousPath("The path holds an encoded slash or backslash")
        if byte < 0x20 or byte == 0x7F:
            raise AmbiguousPath("The path holds an encoded control character")
    segments = raw_path.split("/")[1:]
    if any(segment in {".", ".."} for segment in segments):
        raise AmbiguousPath("The path holds a dot segment")
    if any(segment == "" for segment in segments[:-1]):
        raise AmbiguousPath("The path holds an empty segment ('//')")
    try:
        return unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise AmbiguousPath("The path's percent escapes are not UTF-8") from None


def refuse_ambiguous_paths() -> None:
    """Refuse a request whose raw path has more than one reading (a `before_request` hook)."""
    raw: str = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    decision_path(raw.split("?", 1)[0])
