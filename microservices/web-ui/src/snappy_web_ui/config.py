"""Configuration of web-ui, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table); those the monolith has keep its name and meaning. Nothing is read at import
time, so tests and tools can build settings from any mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from snappy_plumbing.config import ConfigurationError, EnvironmentReader
from snappy_plumbing.tokens import check_ttl_seconds

__all__ = ["ConfigurationError", "PeerSettings", "Settings", "TokenSettings"]

JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class PeerSettings:
    """How web-ui calls user-service and photo-service."""

    user_service_url: str
    photo_service_url: str
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 5.0
    # Writes (an upload above all) wait longer than the services' request budget (15 s):
    # a write a service completes within its budget is never reported failed here.
    write_timeout_seconds: float = 20.0
    # Attempts of a read (the first one and the retries); writes are sent once.
    read_attempts: int = 3
    backoff_seconds: float = 0.1
    user_cache_ttl_seconds: float = 600.0

    def read_worst_case_seconds(self) -> float:
        """The longest one read can take: every attempt waiting out its timeouts, plus the backoff."""
        backoff = sum(self.backoff_seconds * 2.0**attempt for attempt in range(self.read_attempts - 1))
        return self.read_attempts * (self.connect_timeout_seconds * 2 + self.read_timeout_seconds) + backoff

    def write_worst_case_seconds(self) -> float:
        """The longest one write can take: a pooled connection, a new one, then the answer."""
        return self.connect_timeout_seconds * 2 + self.write_timeout_seconds

    def longest_call_seconds(self) -> float:
        """The longest any one call to a peer can take (below the edge's read timeout)."""
        return max(self.read_worst_case_seconds(), self.write_worst_case_seconds())


@dataclass(frozen=True)
class TokenSettings:
    """How the access token in the session is checked."""

    jwks_url: str | None = None
    issuer: str = "snappy"
    audience: str = "snappy-api"
    ttl_seconds: int = 3600
    jwks_ttl_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 10.0
    # How often the list of revoked tokens is fetched from user-service, and how old it may
    # grow while user-service does not answer before signed-in pages degrade (503).
    revocation_ttl_seconds: float = 5.0
    revocation_max_staleness_seconds: float = 60.0


@dataclass(frozen=True)
class Settings:
    """Everything web-ui needs to run."""

    peers: PeerSettings
    secret_key: str
    tokens: TokenSettings = field(default_factory=TokenSettings)
    session_cookie_secure: bool = False
    max_upload_bytes: int = 10 * 1024 * 1024
    page_size: int = 20
    log_level: str = "INFO"
    # Proxies in front whose X-Forwarded-For entries are believed (the edge: 1); 0 believes
    # none. The address found is the one the log-in page names to user-service's throttle.
    trusted_proxy_hops: int = 0

    @property
    def jwks_url(self) -> str:
        """The signer's JWKS document: configured, or user-service's own."""
        return self.tokens.jwks_url or self.peers.user_service_url.rstrip("/") + JWKS_PATH

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (the process environment by default)."""
        reader = EnvironmentReader(os.environ if environ is None else environ)
        return cls(
            peers=PeerSettings(
                user_service_url=_http_url(
                    "SNAPPY_USER_SERVICE_URL", reader.required("SNAPPY_USER_SERVICE_URL")
                ),
                photo_service_url=_http_url(
                    "SNAPPY_PHOTO_SERVICE_URL", reader.required("SNAPPY_PHOTO_SERVICE_URL")
                ),
                connect_timeout_seconds=reader.positive_float("SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS", 1.0),
                read_timeout_seconds=reader.positive_float("SNAPPY_PEER_READ_TIMEOUT_SECONDS", 5.0),
                write_timeout_seconds=reader.positive_float("SNAPPY_PEER_WRITE_TIMEOUT_SECONDS", 20.0),
                read_attempts=reader.positive_int("SNAPPY_PEER_READ_ATTEMPTS", 3),
                user_cache_ttl_seconds=reader.positive_float("SNAPPY_USER_CACHE_TTL_SECONDS", 600.0),
            ),
            # Required: every replica, and the monolith during the migration, must sign
            # session cookies with the same secret, so a random one would log users out.
            secret_key=reader.required("SNAPPY_SECRET_KEY"),
            tokens=TokenSettings(
                jwks_url=_optional_http_url("SNAPPY_JWKS_URL", reader.optional("SNAPPY_JWKS_URL")),
                issuer=reader.optional("SNAPPY_JWT_ISSUER") or "snappy",
                audience=reader.optional("SNAPPY_JWT_AUDIENCE") or "snappy-api",
                ttl_seconds=check_ttl_seconds(reader.positive_int("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", 3600)),
                revocation_ttl_seconds=reader.positive_float("SNAPPY_REVOCATION_TTL_SECONDS", 5.0),
                revocation_max_staleness_seconds=reader.positive_float(
                    "SNAPPY_REVOCATION_MAX_STALENESS_SECONDS", 60.0
                ),
            ),
            session_cookie_secure=reader.boolean("SNAPPY_SESSION_COOKIE_SECURE", False),
            max_upload_bytes=reader.positive_int("SNAPPY_MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
            page_size=reader.positive_int("SNAPPY_DEFAULT_PAGE_SIZE", 20),
            log_level=(reader.optional("SNAPPY_LOG_LEVEL") or "INFO").upper(),
            trusted_proxy_hops=reader.non_negative_int("SNAPPY_TRUSTED_PROXY_HOPS", 0),
        )


def _http_url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return value


def _optional_http_url(name: str, value: str | None) -> str | None:
    return None if value is None else _http_url(name, value)
