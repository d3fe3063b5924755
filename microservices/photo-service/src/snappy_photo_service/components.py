"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from snappy_photo_service.config import Settings
    from snappy_photo_service.storage import ObjectStorage
    from snappy_photo_service.user_directory import UserDirectory
    from snappy_plumbing.database import Database
    from snappy_plumbing.revocation import RevocationList
    from snappy_plumbing.tokens import TokenVerifier

__all__ = ["EXTENSION_KEY", "Components", "components"]

EXTENSION_KEY = "snappy"


@dataclass(frozen=True)
class Components:
    """Everything a request handler may need, besides the request."""

    settings: Settings
    database: Database
    storage: ObjectStorage
    tokens: TokenVerifier
    users: UserDirectory
    revocations: RevocationList


def components() -> Components:
    """The current application's components."""
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found
