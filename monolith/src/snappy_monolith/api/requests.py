"""Reading API requests: the bearer token, JSON bodies and paging parameters."""

from __future__ import annotations

from typing import Any

from flask import g, request
from werkzeug.exceptions import BadRequest

from snappy_monolith import revocations
from snappy_monolith.components import components
from snappy_monolith.database import request_session
from snappy_monolith.errors import (
    AuthenticationRequired,
    FieldError,
    MalformedRequest,
    UnsupportedMediaType,
    ValidationFailed,
)
from snappy_monolith.pagination import PageRequest, parse_page_request
from snappy_monolith.tokens import TokenClaims

__all__ = ["authenticated_caller", "json_object", "page_request", "string_field"]


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid, unrevoked bearer token bound to an existing account; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("A bearer access token is required")
    claims = components().tokens.verify(token.strip())
    # The signature is not enough: the token must bind an existing account and be unrevoked.
    caller = revocations.bound_caller(request_session(), claims)
    g.caller = caller
    return caller


def json_object(allowed: set[str], required: set[str]) -> dict[str, Any]:
    """The request's JSON object body, with its fields checked against the allowed set."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("The request body must be application/json")
    try:
        body = request.get_json(force=True, silent=False)
    except BadRequest:
        raise MalformedRequest("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    errors = [FieldError(name, "is required") for name in sorted(required - body.keys())]
    errors += [FieldError(name, "is not a known field") for name in sorted(body.keys() - allowed)]
    if errors:
        raise ValidationFailed(errors)
    return body


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
