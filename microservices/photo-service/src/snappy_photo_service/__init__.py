"""Snappy's photo service: photos, thumbnails, shares and the feed."""

from snappy_photo_service.app import create_app

__all__ = ["create_app"]
