"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from snappy_monolith.config import Settings
from snappy_monolith.database import Database
from snappy_monolith.storage import ObjectStorage
from snappy_monolith.tokens import TokenAuthority

__all__ = ["Components", "components"]

EXTENSION_KEY = "snappy"


@dataclass(frozen=True)
class Components:
    """Everything a request handler may need, besides the request."""

    settings: Settings
    database: Database
    storage: ObjectStorage
    tokens: TokenAuthority


def components() -> Components:
    """The current application's components."""
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found
