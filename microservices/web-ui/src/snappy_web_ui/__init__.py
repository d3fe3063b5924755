"""Snappy's web-ui: the server-rendered pages, on top of user-service and photo-service."""

from snappy_web_ui.app import create_app

__all__ = ["create_app"]
