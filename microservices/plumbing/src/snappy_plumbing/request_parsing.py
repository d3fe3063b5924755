"""Reading what every JSON API request carries: a bearer token and a JSON object body."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from snappy_plumbing.errors import (
    AuthenticationRequired,
    FieldError,
    MalformedRequest,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = ["bearer_token", "json_object"]


def bearer_token() -> str:
    """The token of the `Authorization: Bearer` header; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("A bearer access token is required")
    return token.strip()


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
