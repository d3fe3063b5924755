"""Configuration of web-ui, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table; those the monolith has keep its name and meaning) and one default: on its field
(`snappy_plumbing.config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snappy_plumbing import access_tokens
from snappy_plumbing.access_tokens import DEFAULT_TTL_SECONDS, token_ttl
from snappy_plumbing.config import (
    ConfigurationError,
    ServiceSettings,
    boolean,
    http_url,
    non_negative_int,
    positive_float,
    positive_int,
    section,
    variable,
)
from snappy_plumbing.peers import PeerPolicy

__all__ = ["ConfigurationError", "PeerSettings", "Settings", "TokenSettings"]


@dataclass(frozen=True)
class PeerSettings:
    """Where user-service and photo-service are, and how web-ui calls them."""

    user_service_url: str = field(metadata=variable("SNAPPY_USER_SERVICE_URL", http_url))
    photo_service_url: str = field(metadata=variable("SNAPPY_PHOTO_SERVICE_URL", http_url))
    calls: PeerPolicy = field(default=PeerPolicy(read_timeout_seconds=5.0, attempts=3), metadata=section())
    # Writes (an upload above all) wait longer than the services' request budget (15 s):
    # a write a service completes within its budget is never reported failed here.
    write_timeout_seconds: float = field(
        default=20.0, metadata=variable("SNAPPY_PEER_WRITE_TIMEOUT_SECONDS", positive_float)
    )
    user_cache_ttl_seconds: float = field(
        default=600.0, metadata=variable("SNAPPY_USER_CACHE_TTL_SECONDS", positive_float)
    )

    def longest_call_seconds(self) -> float:
        """The longest any one call to a peer can take (below the edge's read timeout)."""
        return max(
            self.calls.read_worst_case_seconds(),
            self.calls.write_worst_case_seconds(self.write_timeout_seconds),
        )


@dataclass(frozen=True)
class TokenSettings(access_tokens.TokenCheckSettings):
    """How the access token in the session is checked, and how long the session lasts."""

    # The session lasts as long as the token it holds.
    ttl_seconds: int = field(
        default=DEFAULT_TTL_SECONDS, metadata=variable("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", token_ttl)
    )


@dataclass(frozen=True)
class Settings(ServiceSettings):
    """Everything web-ui needs to run."""

    peers: PeerSettings = field(metadata=section())
    # Required: every replica, and the monolith during the migration, must sign session
    # cookies with the same secret, so a random one would log users out.
    secret_key: str = field(metadata=variable("SNAPPY_SECRET_KEY"))
    tokens: TokenSettings = field(default_factory=TokenSettings, metadata=section())
    session_cookie_secure: bool = field(
        default=False, metadata=variable("SNAPPY_SESSION_COOKIE_SECURE", boolean)
    )
    max_upload_bytes: int = field(
        default=10 * 1024 * 1024, metadata=variable("SNAPPY_MAX_UPLOAD_BYTES", positive_int)
    )
    page_size: int = field(default=20, metadata=variable("SNAPPY_DEFAULT_PAGE_SIZE", positive_int))
    # Proxies in front whose X-Forwarded-For entries are believed (the edge: 1); 0 believes
    # none. The address found is the one the log-in page names to user-service's throttle.
    trusted_proxy_hops: int = field(
        default=0, metadata=variable("SNAPPY_TRUSTED_PROXY_HOPS", non_negative_int)
    )
