"""The one place that says which differences between two versions of Snappy do not count.

Two stacks answering the same requests differ, legitimately, only in values they
generate themselves. Everything else (statuses, content types, problem types, field
names and values, ordering, pagination) must be identical. The normalization:

- **ids**: each stack numbers rows itself, so an id is replaced by the order in which
  it first appeared in the scenario, counted per kind of row (`<user 1>`, `<photo 1>`,
  ...), in bodies, in `Location` headers and in cursors; the same row must get the same
  placeholder on both sides. Users and photos are numbered apart: one counter for both
  would give a photo whose id happens to equal an earlier user's id that user's
  placeholder on one side only, a difference that depends on the stacks' history;
- **timestamps**: `created_at` values become `<timestamp>`, after checking their format;
- **tokens**: `access_token` values become `<token>`, after checking they are JWTs;
- **cursors**: `next_cursor` values become `<cursor>` (they encode ids);
- **headers**: only the headers that matter are compared: Content-Type, Location,
  Cache-Control, WWW-Authenticate and Allow;
- **`detail`** of problem documents is compared word for word, but for the photo ids it
  names ("No photo 12"), numbered like the others: it is part of the contract's
  human-readable surface, and both versions must say the same thing;
- **pages**: the value of each form's hidden `csrf_token` field becomes `<csrf>`: it is
  generated on every render, from the session's own secret. Everything else on a page is
  compared as it is (the shadow traffic compares pages; the parity tests compare JSON,
  and the browser suite compares pages by their pixels).

Two users of it hold both versions to it: the parity tests (`tests/parity/`), which number
the ids over a whole scenario, and the edge's shadow traffic (`snappy_edge.shadow`), which
compares a primary's and a candidate's answer to one live request with a fresh numbering
per side, so it lives with the edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COMPARED_HEADERS", "IdNumbering", "normalize_body", "normalize_headers", "normalize_page"]

COMPARED_HEADERS = ("content-type", "location", "cache-control", "www-authenticate", "allow")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ID_IN_PATH = re.compile(r"/photos/(\d+)")
_ID_IN_TEXT = re.compile(r"\b([Pp]hoto) (\d+)\b")
_CSRF_FIELD = re.compile(r'(<input type="hidden" name="csrf_token" value=")[^"]*(")')


@dataclass
class IdNumbering:
    """Maps one stack's generated ids to placeholders, per kind of row, in order of first appearance."""

    placeholders: dict[tuple[str, int], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, value: int, kind: str = "photo") -> str:
        """The placeholder of the `kind` row with id `value`, numbering it if it is new."""
        if (kind, value) not in self.placeholders:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.placeholders[(kind, value)] = f"<{kind} {self.counts[kind]}>"
        return self.placeholders[(kind, value)]

    def in_path(self, path: str) -> str:
        """A path with its photo ids replaced."""
        return _ID_IN_PATH.sub(lambda match: f"/photos/{self.placeholder(int(match.group(1)))}", path)

    def in_text(self, text: str) -> str:
        """A sentence with the photo ids it names ("No photo 12") replaced."""
        return _ID_IN_TEXT.sub(
            lambda match: f"{match.group(1)} {self.placeholder(int(match.group(2)))}", text
        )


def normalize_body(body: Any, ids: IdNumbering) -> Any:
    """A JSON body with generated values replaced by placeholders."""
    if isinstance(body, list):
        return [normalize_body(item, ids) for item in body]
    if not isinstance(body, dict):
        return body
    normalized: dict[str, Any] = {}
    for key, value in body.items():
        if key == "id" and isinstance(value, int):
            # A user document is the one that carries its own `username`; a photo names its `owner`.
            normalized[key] = ids.placeholder(value, "user" if "username" in body else "photo")
        elif key == "created_at" and isinstance(value, str):
            normalized[key] = "<timestamp>" if _TIMESTAMP.fullmatch(value) else value
        elif key == "access_token" and isinstance(value, str):
            normalized[key] = "<token>" if _JWT.fullmatch(value) else value
        elif key == "next_cursor" and isinstance(value, str):
            normalized[key] = "<cursor>"
        elif key == "instance" and isinstance(value, str):
            normalized[key] = ids.in_path(value)
        elif key == "detail" and isinstance(value, str):
            normalized[key] = ids.in_text(value)
        else:
            normalized[key] = normalize_body(value, ids)
    return normalized


def normalize_headers(headers: dict[str, str], ids: IdNumbering) -> dict[str, str]:
    """The headers that matter, with ids in `Location` replaced."""
    lowered = {name.lower(): value for name, value in headers.items()}
    kept = {name: lowered[name] for name in COMPARED_HEADERS if name in lowered}
    if "location" in kept:
        kept["location"] = ids.in_path(kept["location"])
    return kept


def normalize_page(html: str) -> str:
    """A page with every form's CSRF token replaced by `<csrf>`."""
    return _CSRF_FIELD.sub(r"\1<csrf>\2", html)
