"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from snappy_monolith.config import Settings
from snappy_monolith.database import Database
from snappy_monolith.errors import ServiceUnavailable
from snappy_monolith.photo_catalog import RemotePhotos
from snappy_monolith.storage import ObjectStorage
from snappy_monolith.tokens import TokenAuthority
from snappy_monolith.user_directory import RemoteUsers

__all__ = ["Components", "components"]

EXTENSION_KEY = "snappy"


@dataclass(frozen=True)
class Components:
    """Everything a request handler may need, besides the request."""

    settings: Settings
    database: Database
    storage: ObjectStorage
    tokens: TokenAuthority
    # user-service, where users and tokens live from phase 1 (snappy_monolith.ownership); None when unset.
    remote_users: RemoteUsers | None = None
    # photo-service, where photos, shares and their objects live from phase 2; None when unset.
    remote_photos: RemotePhotos | None = None

    def user_service(self) -> RemoteUsers:
        """user-service's client; 503 when the phase says it owns users but no URL was configured."""
        if self.remote_users is None:
            raise ServiceUnavailable("user-service owns users now; SNAPPY_USER_SERVICE_URL is not set")
        return self.remote_users

    def photo_service(self) -> RemotePhotos:
        """photo-service's client; 503 when the phase says it owns photos but no URL was configured."""
        if self.remote_photos is None:
            raise ServiceUnavailable("photo-service owns photos now; SNAPPY_PHOTO_SERVICE_URL is not set")
        return self.remote_photos


def components() -> Components:
    """The current application's components."""
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found
