"""Reading API requests: the bearer token and JSON bodies."""

from __future__ import annotations

from typing import Any

from flask import g

from snappy_plumbing.errors import FieldError, ValidationFailed
from snappy_plumbing.request_parsing import bearer_token, json_object
from snappy_plumbing.tokens import TokenClaims
from snappy_user_service.components import components

__all__ = ["authenticated_caller", "json_object", "string_fields"]


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid bearer token; 401 otherwise."""
    claims = components().verifier.verify(bearer_token())
    g.caller = claims
    return claims


def string_fields(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """Fields that must be strings; one error per field that is not."""
    errors = [FieldError(name, "must be a string") for name in names if not isinstance(body[name], str)]
    if errors:
        raise ValidationFailed(errors)
    return {name: body[name] for name in names}
