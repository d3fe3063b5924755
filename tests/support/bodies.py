"""Request bodies that are not a JSON object, and how an endpoint that takes one refuses each."""

from __future__ import annotations

__all__ = ["not_a_json_object"]


def not_a_json_object(form: str) -> list[tuple[str, str, int, str]]:
    """(body, Content-Type, status, problem slug) for each kind of body that is not a JSON object.

    `form` is an urlencoded body of the endpoint's own fields.
    """
    return [
        ("{not json", "application/json", 400, "malformed-request"),
        ("[1, 2]", "application/json", 400, "malformed-request"),
        (form, "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        ("", "text/plain", 415, "unsupported-media-type"),
    ]
