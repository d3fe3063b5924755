"""Users and tokens: sign up, log in, profiles and a user's public photos."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from snappy_monolith import photos, users
from snappy_monolith.api.representations import page_json, photo_json, user_json
from snappy_monolith.api.requests import (
    authenticated_caller,
    json_object,
    owned_here,
    page_request,
    string_field,
)
from snappy_monolith.components import components
from snappy_monolith.database import request_session
from snappy_monolith.errors import AuthenticationRequired, FieldError, ValidationFailed
from snappy_monolith.throttle import throttled_log_in

__all__ = ["register"]


def register(blueprint: Blueprint) -> None:
    """Add the user and token routes to the API blueprint."""
    users_here, photos_here = owned_here("users"), owned_here("photos")
    blueprint.add_url_rule("/users", view_func=users_here(create_user), methods=["POST"])
    blueprint.add_url_rule("/tokens", view_func=users_here(create_token), methods=["POST"])
    blueprint.add_url_rule("/users/me", view_func=users_here(get_current_user), methods=["GET"])
    blueprint.add_url_rule("/users/<username>", view_func=users_here(get_user), methods=["GET"])
    # Photo data, though under /users: it moves with the photos (snappy_edge.routing).
    blueprint.add_url_rule(
        "/users/<username>/photos", view_func=photos_here(list_user_photos), methods=["GET"]
    )


def create_user() -> tuple[Response, int, dict[str, str]]:
    """Sign up."""
    body = json_object(
        allowed={"username", "password", "display_name"}, required={"username", "password", "display_name"}
    )
    fields = _string_fields(body, ("username", "password", "display_name"))
    session = request_session()
    user = users.sign_up(session, fields["username"], fields["password"], fields["display_name"])
    session.commit()
    location = url_for("api.get_user", username=user.username)
    return jsonify(user_json(user)), 201, {"Location": location}


def create_token() -> tuple[Response, int, dict[str, str]]:
    """Log in: trade a username and password for a bearer access token."""
    body = json_object(allowed={"username", "password"}, required={"username", "password"})
    fields = _string_fields(body, ("username", "password"))
    for name in ("username", "password"):
        if not 1 <= len(fields[name]) <= 256:
            raise ValidationFailed([FieldError(name, "must be 1 to 256 characters")])
    user = throttled_log_in(request_session(), fields["username"], fields["password"])
    token = components().tokens.issue(user.id, user.username, user.created_at)
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


def list_user_photos(username: str) -> Response:
    """A user's public photos, newest first."""
    authenticated_caller()
    page = page_request()
    session = request_session()
    owner = users.get_user(session, username)
    return jsonify(page_json(photos.list_public_photos(session, owner, page), photo_json))


def _string_fields(body: dict[str, object], names: tuple[str, ...]) -> dict[str, str]:
    errors = [FieldError(name, "must be a string") for name in names if not isinstance(body[name], str)]
    if errors:
        raise ValidationFailed(errors)
    return {name: string_field(body, name) for name in names}
