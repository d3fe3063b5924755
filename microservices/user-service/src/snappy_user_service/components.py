"""The application's wired dependencies, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from snappy_plumbing.components import AppComponents
from snappy_plumbing.database import Database
from snappy_plumbing.tokens import TokenSigner, TokenVerifier
from snappy_user_service.config import Settings

__all__ = ["Components", "components"]


@dataclass(frozen=True)
class Components(AppComponents[Settings]):
    """Everything a request handler may need, besides the request."""

    database: Database
    signer: TokenSigner
    # The signer is its own key source: tokens are verified with the key that signs them.
    verifier: TokenVerifier


# The current application's components.
components = Components.current
