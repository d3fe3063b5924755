"""The public JSON API under /api/v1: photos, shares, the feed and a user's photos."""

from __future__ import annotations

from flask import Blueprint

from snappy_photo_service.api import photos

__all__ = ["create_api_blueprint"]


def create_api_blueprint() -> Blueprint:
    """One blueprint for /api/v1, with the photo resources registered on it."""
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    photos.register(blueprint)
    return blueprint
