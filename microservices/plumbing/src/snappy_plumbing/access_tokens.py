"""The access-token settings every service shares, and the token checks of those that do not sign.

Every service requires the same issuer and audience of a token (`TokenSettings`). A
service that does not sign tokens (photo-service, web-ui) checks each one locally: its
signature against the signer's public keys (`jwks.JwksKeySet`, cached), then its id
against the revoked ones (`revocation.RevocationList`, fetched from user-service).
`TokenCheckSettings` are their settings, the same variables in both, and `check_tokens`
builds their `TokenChecks` from them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from snappy_plumbing.config import http_url, positive_float, positive_int, variable
from snappy_plumbing.jwks import JwksKeySet
from snappy_plumbing.peers import PeerClient, PeerPolicy
from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.tokens import TokenClaims, TokenVerifier, check_ttl_seconds

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "JWKS_PATH",
    "TokenCheckSettings",
    "TokenChecks",
    "TokenSettings",
    "check_tokens",
    "token_ttl",
]

# Where the signer publishes its public keys.
JWKS_PATH = "/.well-known/jwks.json"
# The monolith's lifetime of an access token (and of web-ui's session, which holds one).
DEFAULT_TTL_SECONDS = 3600

logger = logging.getLogger(__name__)


def token_ttl(name: str, raw: str) -> int:
    """A token's lifetime in whole seconds, from 1 to `tokens.MAX_TOKEN_TTL_SECONDS`."""
    return check_ttl_seconds(positive_int(name, raw))


@dataclass(frozen=True)
class TokenSettings:
    """What every service requires of an access token: who issued it, and for whom."""

    issuer: str = field(default="snappy", metadata=variable("SNAPPY_JWT_ISSUER"))
    audience: str = field(default="snappy-api", metadata=variable("SNAPPY_JWT_AUDIENCE"))


@dataclass(frozen=True)
class TokenCheckSettings(TokenSettings):
    """How a service that does not sign tokens checks them: the signer's keys, the revoked ids."""

    # None: the JWKS document user-service publishes.
    jwks_url: str | None = field(default=None, metadata=variable("SNAPPY_JWKS_URL", http_url))
    jwks_ttl_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 10.0
    # How often the list of revoked tokens is fetched from user-service, and how old it may
    # grow while user-service does not answer before tokens are refused (503).
    revocation_ttl_seconds: float = field(
        default=5.0, metadata=variable("SNAPPY_REVOCATION_TTL_SECONDS", positive_float)
    )
    revocation_max_staleness_seconds: float = field(
        default=60.0, metadata=variable("SNAPPY_REVOCATION_MAX_STALENESS_SECONDS", positive_float)
    )

    def signer_keys_url(self, user_service_url: str) -> str:
        """The signer's JWKS document: the one configured, or user-service's own."""
        return self.jwks_url or user_service_url.rstrip("/") + JWKS_PATH


class TokenChecks:
    """A service's checks of access tokens: the signature, against the signer's keys, and revocation."""

    def __init__(self, keys: JwksKeySet, verifier: TokenVerifier, revocations: RevocationList) -> None:
        self._keys = keys
        self._verifier = verifier
        self._revocations = revocations

    def verify(self, token: str) -> TokenClaims:
        """The claims of a token whose signature, issuer, audience and lifetime are good; 401 otherwise."""
        return self._verifier.verify(token)

    def is_revoked(self, token_id: str) -> bool:
        """Whether the token was revoked (logged out); 503 when the list is too old to trust."""
        return self._revocations.is_revoked(token_id)

    def require_keys(self) -> None:
        """A readiness check: raises until the signer's keys are known."""
        self._keys.require_keys()

    def close(self) -> None:
        """Close the connections to user-service."""
        self._revocations.close()


def check_tokens(
    settings: TokenCheckSettings, user_service_url: str, policy: PeerPolicy, *, jwks_timeout_seconds: float
) -> TokenChecks:
    """The token checks of a service, its first fetch of the signer's keys done (best effort).

    Without the keys now, readiness and the first request with a token fetch them again.
    """
    keys_url = settings.signer_keys_url(user_service_url)
    keys = JwksKeySet(
        keys_url,
        ttl_seconds=settings.jwks_ttl_seconds,
        min_refresh_seconds=settings.jwks_min_refresh_seconds,
        timeout_seconds=jwks_timeout_seconds,
    )
    if not keys.prefetch():
        logger.warning("token keys not available at start-up", extra={"jwks_url": keys_url})
    revocations = RevocationList(
        PeerClient("user-service", user_service_url, policy),
        ttl_seconds=settings.revocation_ttl_seconds,
        max_staleness_seconds=settings.revocation_max_staleness_seconds,
    )
    return TokenChecks(keys, TokenVerifier(keys, settings.issuer, settings.audience), revocations)
