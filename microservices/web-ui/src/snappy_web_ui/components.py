"""The long-lived collaborators of the pages, built once by the application factory."""

from __future__ import annotations

from dataclasses import dataclass

from snappy_plumbing.access_tokens import TokenChecks
from snappy_plumbing.components import AppComponents
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.config import Settings

__all__ = ["Components", "components"]


@dataclass(frozen=True)
class Components(AppComponents[Settings]):
    """What every page may use."""

    tokens: TokenChecks
    users: UserServiceClient
    photos: PhotoServiceClient


# The components of the current application.
components = Components.current
