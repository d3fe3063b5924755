"""Users and tokens: sign up, log in and profiles (the public contract's /api/v1 part)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from snappy_plumbing.database import request_session, unit_of_work
from snappy_plumbing.errors import AuthenticationRequired, FieldError, ValidationFailed
from snappy_user_service import users
from snappy_user_service.api.representations import user_json
from snappy_user_service.api.requests import authenticated_caller, json_object, string_fields
from snappy_user_service.components import components
from snappy_user_service.throttle import throttled_log_in

__all__ = ["register"]

CREDENTIAL_MAX_LENGTH = 256


def register(blueprint: Blueprint) -> None:
    """Add the user and token routes to the API blueprint."""
    blueprint.add_url_rule("/users", view_func=create_user, methods=["POST"])
    blueprint.add_url_rule("/tokens", view_func=create_token, methods=["POST"])
    blueprint.add_url_rule("/users/me", view_func=get_current_user, methods=["GET"])
    blueprint.add_url_rule("/users/<username>", view_func=get_user, methods=["GET"])


def create_user() -> tuple[Response, int, dict[str, str]]:
    """Sign up."""
    names = ("username", "password", "display_name")
    fields = string_fields(json_object(allowed=set(names), required=set(names)), names)
    session = request_session()
    with unit_of_work(session):
        user = users.sign_up(session, fields["username"], fields["password"], fields["display_name"])
    location = url_for("api.get_user", username=user.username)
    return jsonify(user_json(user)), 201, {"Location": location}


def create_token() -> tuple[Response, int, dict[str, str]]:
    """Log in: trade a username and password for a bearer access token."""
    names = ("username", "password")
    fields = string_fields(json_object(allowed=set(names), required=set(names)), names)
    for name in names:
        if not 1 <= len(fields[name]) <= CREDENTIAL_MAX_LENGTH:
            raise ValidationFailed([FieldError(name, f"must be 1 to {CREDENTIAL_MAX_LENGTH} characters")])
    user = throttled_log_in(request_session(), fields["username"], fields["password"])
    token = components().signer.issue(user.id, user.username, user.created_at)
    body = {"access_token": token.value, "token_type": "Bearer", "expires_in": token.expires_in}
    return jsonify(body), 201, {"Cache-Control": "no-store"}


def get_current_user() -> Response:
    """The caller's profile."""
    caller = authenticated_caller()
    user = users.get_user_by_id(request_session(), caller.user_id)
    if user is None:
        raise AuthenticationRequired("The token's user no longer exists")
    return jsonify(user_json(user))


def get_user(username: str) -> Response:
    """A user's public profile."""
    authenticated_caller()
    return jsonify(user_json(users.get_user(request_session(), username)))
