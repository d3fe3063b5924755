"""The long-lived collaborators of the pages, built once by the application factory."""

from __future__ import annotations

from dataclasses import dataclass

from snappy_plumbing.components import AppComponents
from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.tokens import TokenVerifier
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.config import Settings

__all__ = ["Components", "components"]


@dataclass(frozen=True)
class Components(AppComponents):
    """What every page may use."""

    settings: Settings
    verifier: TokenVerifier
    users: UserServiceClient
    photos: PhotoServiceClient
    revocations: RevocationList


# The components of the current application.
components = Components.current
