"""The JSON REST API under /api/v1, exactly as shared_contracts/ documents it."""

from __future__ import annotations

from flask import Blueprint

from snappy_monolith.api import current_token, photos, users

__all__ = ["create_api_blueprint"]


def create_api_blueprint() -> Blueprint:
    """One blueprint for /api/v1, with the user and photo resources registered on it."""
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    users.register(blueprint)
    current_token.register(blueprint)
    photos.register(blueprint)
    return blueprint
