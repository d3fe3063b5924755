"""Snappy, the photo-sharing monolith."""

from snappy_monolith.app import create_app

__all__ = ["create_app"]
