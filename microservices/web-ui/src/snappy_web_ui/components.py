"""The long-lived collaborators of the pages, built once by the application factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.tokens import TokenVerifier
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.config import Settings

__all__ = ["EXTENSION_KEY", "Components", "components"]

EXTENSION_KEY = "snappy_web_ui"


@dataclass(frozen=True)
class Components:
    """What every page may use."""

    settings: Settings
    verifier: TokenVerifier
    users: UserServiceClient
    photos: PhotoServiceClient
    revocations: RevocationList


def components() -> Components:
    """The components of the current application."""
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found
