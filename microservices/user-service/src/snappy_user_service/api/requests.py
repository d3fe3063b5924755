"""Reading API requests: the bearer token and JSON bodies."""

from __future__ import annotations

from typing import Any

from flask import g, request
from werkzeug.exceptions import BadRequest

from snappy_plumbing.errors import (
    AuthenticationRequired,
    FieldError,
    MalformedRequest,
    UnsupportedMediaType,
    ValidationFailed,
)
from snappy_plumbing.tokens import TokenClaims
from snappy_user_service.components import components

__all__ = ["authenticated_caller", "json_object", "string_fields"]


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid bearer token; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("A bearer access token is required")
    claims = components().verifier.verify(token.strip())
    g.caller = claims
    return claims


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


def string_fields(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """Fields that must be strings; one error per field that is not."""
    errors = [FieldError(name, "must be a string") for name in names if not isinstance(body[name], str)]
    if errors:
        raise ValidationFailed(errors)
    return {name: body[name] for name in names}
