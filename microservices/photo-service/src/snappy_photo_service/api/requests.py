"""Reading API requests: the bearer token, JSON bodies and paging parameters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import g, request

from snappy_photo_service.components import components
from snappy_plumbing.errors import AuthenticationRequired, FieldError, ValidationFailed
from snappy_plumbing.pagination import PageRequest, parse_page_request
from snappy_plumbing.request_parsing import bearer_token, json_object
from snappy_plumbing.tokens import TokenClaims

__all__ = ["REFUSED_DETAIL", "authenticated_caller", "json_object", "page_request", "string_field"]

# The same answer for every token that is refused after its signature was checked.
REFUSED_DETAIL = "The access token is not valid"


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid, unrevoked bearer token bound to an existing account; 401 otherwise.

    The account comes from user-service through the user directory (cached once known):
    it must have the token's id, username and creation time, so a token for someone else
    (another stack's user under the same id, an account that does not exist) opens
    nothing. The username returned is the account's.
    """
    wired = components()
    claims = wired.tokens.verify(bearer_token())
    if wired.tokens.is_revoked(claims.token_id):
        raise AuthenticationRequired(REFUSED_DETAIL)
    user = wired.users.user(claims.user_id)
    if user is None or not claims.binds(user.user_id, user.username, user.created_at):
        raise AuthenticationRequired(REFUSED_DETAIL)
    caller = replace(claims, username=user.username)
    g.caller = caller
    return caller


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
