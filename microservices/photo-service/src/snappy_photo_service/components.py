"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from snappy_photo_service.config import Settings
from snappy_photo_service.storage import ObjectStorage
from snappy_photo_service.user_directory import UserDirectory
from snappy_plumbing.components import AppComponents
from snappy_plumbing.database import Database
from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.tokens import TokenVerifier

__all__ = ["Components", "components"]


@dataclass(frozen=True)
class Components(AppComponents):
    """Everything a request handler may need, besides the request."""

    settings: Settings
    database: Database
    storage: ObjectStorage
    tokens: TokenVerifier
    users: UserDirectory
    revocations: RevocationList


# The current application's components.
components = Components.current
