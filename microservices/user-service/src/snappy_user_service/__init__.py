"""Snappy's user-service: accounts, passwords and access tokens."""

from snappy_user_service.app import create_app

__all__ = ["create_app"]
