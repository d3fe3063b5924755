"""Reading API requests: the bearer token and JSON bodies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import g

from snappy_plumbing.database import request_session
from snappy_plumbing.errors import AuthenticationRequired, FieldError, ValidationFailed
from snappy_plumbing.request_parsing import bearer_token, json_object
from snappy_plumbing.tokens import TokenClaims
from snappy_user_service import revocations, users
from snappy_user_service.components import components

__all__ = ["REFUSED_DETAIL", "authenticated_caller", "json_object", "string_fields"]

# The same answer for every token that is refused after its signature was checked.
REFUSED_DETAIL = "The access token is not valid"


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid, unrevoked bearer token bound to an existing account; 401 otherwise.

    The account is read by primary key: it must have the token's id, username and
    creation time, so a token for someone else (another stack's user under the same id,
    a deleted account) opens nothing. The username returned is the account's.
    """
    claims = components().verifier.verify(bearer_token())
    session = request_session()
    user = users.get_user_by_id(session, claims.user_id)
    if user is None or not claims.binds(user.id, user.username, user.created_at):
        raise AuthenticationRequired(REFUSED_DETAIL)
    if revocations.is_revoked(session, claims.token_id):
        raise AuthenticationRequired(REFUSED_DETAIL)
    caller = replace(claims, username=user.username)
    g.caller = caller
    return caller


def string_fields(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """Fields that must be strings; one error per field that is not."""
    errors = [FieldError(name, "must be a string") for name in names if not isinstance(body[name], str)]
    if errors:
        raise ValidationFailed(errors)
    return {name: body[name] for name in names}
