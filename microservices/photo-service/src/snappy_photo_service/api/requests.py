"""Reading API requests: the bearer token, JSON bodies and paging parameters."""

from __future__ import annotations

from typing import Any

from flask import g, request

from snappy_photo_service.components import components
from snappy_plumbing.errors import FieldError, ValidationFailed
from snappy_plumbing.pagination import PageRequest, parse_page_request
from snappy_plumbing.request_parsing import bearer_token, json_object
from snappy_plumbing.tokens import TokenClaims

__all__ = ["authenticated_caller", "json_object", "page_request", "string_field"]


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid bearer token; 401 otherwise."""
    claims = components().tokens.verify(bearer_token())
    g.caller = claims
    return claims


def string_field(body: dict[str, Any], name: str) -> str:
    """A field that must be a string."""
    value = body[name]
    if not isinstance(value, str):
        raise ValidationFailed([FieldError(name, "must be a string")])
    return value


def page_request() -> PageRequest:
    """The `limit` and `cursor` query parameters."""
    limits = components().settings.limits
    return parse_page_request(
        request.args.get("limit"),
        request.args.get("cursor"),
        default_limit=limits.default_page_size,
        max_limit=limits.max_page_size,
    )
