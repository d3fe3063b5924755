"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from snappy_photo_service.config import Settings
from snappy_photo_service.storage import ObjectStorage
from snappy_photo_service.user_directory import UserDirectory
from snappy_plumbing.access_tokens import TokenChecks
from snappy_plumbing.components import AppComponents
from snappy_plumbing.database import Database

__all__ = ["Components", "components"]


@dataclass(frozen=True)
class Components(AppComponents[Settings]):
    """Everything a request handler may need, besides the request."""

    database: Database
    storage: ObjectStorage
    tokens: TokenChecks
    users: UserDirectory


# The current application's components.
components = Components.current
