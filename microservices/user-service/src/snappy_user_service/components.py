"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from snappy_plumbing.database import Database
from snappy_plumbing.tokens import TokenSigner, TokenVerifier
from snappy_user_service.config import Settings

__all__ = ["EXTENSION_KEY", "Components", "components"]

EXTENSION_KEY = "snappy"


@dataclass(frozen=True)
class Components:
    """Everything a request handler may need, besides the request."""

    settings: Settings
    database: Database
    signer: TokenSigner
    verifier: TokenVerifier


def components() -> Components:
    """The current application's components."""
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found
