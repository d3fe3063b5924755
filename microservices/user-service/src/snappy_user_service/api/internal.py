"""The internal API under /internal/v1, for other services (shared_contracts/user-service-internal).

It takes no bearer token: the public edge refuses every /internal/ path, and a
NetworkPolicy admits only Snappy's own services to this port inside the cluster. What it
tells is what any signed-in user may read already (public profiles) and the ids of
revoked tokens (useless without the tokens themselves), never passwords.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from snappy_plumbing.database import request_session
from snappy_plumbing.errors import FieldError, ValidationFailed
from snappy_user_service import revocations, users
from snappy_user_service.api.representations import timestamp, user_json
from snappy_user_service.api.requests import json_object

__all__ = ["create_internal_blueprint"]

# Ids are PostgreSQL bigints; anything outside cannot name a user.
MAX_USER_ID = 2**63 - 1


def create_internal_blueprint() -> Blueprint:
    """One blueprint for /internal/v1."""
    blueprint = Blueprint("internal", __name__, url_prefix="/internal/v1")
    blueprint.add_url_rule("/users/lookup", view_func=look_up_users, methods=["POST"])
    blueprint.add_url_rule("/revoked-tokens", view_func=list_revoked_tokens, methods=["GET"])
    return blueprint


def list_revoked_tokens() -> Response:
    """The id and expiry of every revoked token that has not expired yet."""
    revoked = revocations.active_revocations(request_session())
    items = [{"token_id": row.token_id, "expires_at": timestamp(row.expires_at)} for row in revoked]
    return jsonify({"revoked": items})


def look_up_users() -> Response:
    """The users named by id or username, in one answer; unknown ones are absent."""
    body = json_object(allowed={"ids", "usernames"}, required=set())
    ids, usernames = body.get("ids", []), body.get("usernames", [])
    errors: list[FieldError] = []
    if not _is_list_of_ids(ids):
        errors.append(FieldError("ids", f"must be an array of integers from 1 to {MAX_USER_ID}"))
    if not _is_list_of_strings(usernames):
        errors.append(FieldError("usernames", "must be an array of strings"))
    if errors:
        raise ValidationFailed(errors)
    found = users.look_up_users(request_session(), ids, usernames)
    return jsonify({"users": [user_json(user) for user in found]})


def _is_list_of_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= MAX_USER_ID for item in value
    )


def _is_list_of_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
