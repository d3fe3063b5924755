"""The HTTP API: the public /api/v1 part user-service serves, and its internal /internal/v1."""

from __future__ import annotations

from flask import Blueprint

from snappy_user_service.api import current_token, users
from snappy_user_service.api.internal import create_internal_blueprint

__all__ = ["create_api_blueprint", "create_internal_blueprint"]


def create_api_blueprint() -> Blueprint:
    """One blueprint for /api/v1, with the user and token resources registered on it."""
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    users.register(blueprint)
    current_token.register(blueprint)
    return blueprint
