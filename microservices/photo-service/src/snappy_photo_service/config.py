"""Configuration of the photo service, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table). Nothing is read at import time, so tests and tools can build settings from any
mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from snappy_plumbing.config import ConfigurationError, EnvironmentReader, sqlalchemy_url
from snappy_plumbing.database import DatabaseTimeouts

__all__ = [
    "ConfigurationError",
    "Limits",
    "S3Settings",
    "Settings",
    "TokenSettings",
    "UserServiceSettings",
    "sqlalchemy_url",
]

JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class S3Settings:
    """Where photos and thumbnails are stored."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 3.0
    # Attempts of one call, the first included (botocore's standard retry mode).
    max_attempts: int = 2

    def worst_case_seconds(self) -> float:
        """The longest one S3 call can take: every attempt timing out, plus the backoff between."""
        backoff = 2.0 ** (self.max_attempts - 1) - 1  # botocore: at most 1 s, 2 s, 4 s, ...
        return self.max_attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff


@dataclass(frozen=True)
class UserServiceSettings:
    """How to reach user-service, and how long to trust what it said."""

    url: str
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 3.0
    attempts: int = 2
    backoff_seconds: float = 0.1
    cache_ttl_seconds: float = 600.0

    def worst_case_seconds(self) -> float:
        """The longest one lookup can take: every attempt timing out, plus the backoff between."""
        backoff = sum(self.backoff_seconds * 2.0**attempt for attempt in range(self.attempts - 1))
        return self.attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff


@dataclass(frozen=True)
class TokenSettings:
    """How access tokens are checked; the keys come from the signer's JWKS document."""

    jwks_url: str | None = None
    issuer: str = "snappy"
    audience: str = "snappy-api"
    jwks_ttl_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 10.0
    jwks_timeout_seconds: float = 3.0
    # How often the list of revoked tokens is fetched from user-service, and how old it may
    # grow while user-service does not answer before tokens are refused with 503.
    revocation_ttl_seconds: float = 5.0
    revocation_max_staleness_seconds: float = 60.0


@dataclass(frozen=True)
class Limits:
    """Explicit limits on what a client may send or ask for."""

    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_caption_length: int = 2000
    default_page_size: int = 20
    max_page_size: int = 100
    thumbnail_size: int = 320


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run."""

    database_url: str
    s3: S3Settings
    user_service: UserServiceSettings
    tokens: TokenSettings = field(default_factory=TokenSettings)
    limits: Limits = field(default_factory=Limits)
    log_level: str = "INFO"
    database: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # The longest a request may take when one dependency fails; below the edge's upstream
    # timeout, web-ui's upload timeout and gunicorn's worker timeout, above every
    # dependency call (checked here).
    request_budget_seconds: float = 15.0

    def __post_init__(self) -> None:
        self.database.check()
        calls = {
            "a PostgreSQL call": self.database.worst_case_seconds(),
            "an S3 call": self.s3.worst_case_seconds(),
            "a user-service lookup": self.user_service.worst_case_seconds(),
        }
        for call, worst_case in calls.items():
            if not worst_case < self.request_budget_seconds:
                raise ConfigurationError(
                    f"SNAPPY_REQUEST_BUDGET_SECONDS ({self.request_budget_seconds} s) must exceed"
                    f" the longest {call} can take ({worst_case} s)"
                )

    @property
    def jwks_url(self) -> str:
        """The signer's JWKS document: configured, or user-service's own."""
        return self.tokens.jwks_url or self.user_service.url.rstrip("/") + JWKS_PATH

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (the process environment by default)."""
        reader = EnvironmentReader(os.environ if environ is None else environ)
        return cls(
            database_url=sqlalchemy_url(reader.required("SNAPPY_DATABASE_URL")),
            s3=S3Settings(
                bucket=reader.required("SNAPPY_S3_BUCKET"),
                endpoint_url=reader.optional("SNAPPY_S3_ENDPOINT_URL"),
                region=reader.optional("SNAPPY_S3_REGION") or "us-east-1",
                access_key_id=reader.optional("SNAPPY_S3_ACCESS_KEY_ID"),
                secret_access_key=reader.optional("SNAPPY_S3_SECRET_ACCESS_KEY"),
                connect_timeout_seconds=reader.positive_float("SNAPPY_S3_CONNECT_TIMEOUT_SECONDS", 1.0),
                read_timeout_seconds=reader.positive_float("SNAPPY_S3_READ_TIMEOUT_SECONDS", 3.0),
                max_attempts=reader.positive_int("SNAPPY_S3_MAX_ATTEMPTS", 2),
            ),
            database=DatabaseTimeouts.from_reader(reader),
            request_budget_seconds=reader.positive_float("SNAPPY_REQUEST_BUDGET_SECONDS", 15.0),
            user_service=UserServiceSettings(
                url=_http_url("SNAPPY_USER_SERVICE_URL", reader.required("SNAPPY_USER_SERVICE_URL")),
                connect_timeout_seconds=reader.positive_float(
                    "SNAPPY_USER_SERVICE_CONNECT_TIMEOUT_SECONDS", 1.0
                ),
                read_timeout_seconds=reader.positive_float("SNAPPY_USER_SERVICE_READ_TIMEOUT_SECONDS", 3.0),
                attempts=reader.positive_int("SNAPPY_USER_SERVICE_ATTEMPTS", 2),
                cache_ttl_seconds=reader.positive_float("SNAPPY_USER_CACHE_TTL_SECONDS", 600.0),
            ),
            tokens=TokenSettings(
                jwks_url=_optional_http_url("SNAPPY_JWKS_URL", reader.optional("SNAPPY_JWKS_URL")),
                issuer=reader.optional("SNAPPY_JWT_ISSUER") or "snappy",
                audience=reader.optional("SNAPPY_JWT_AUDIENCE") or "snappy-api",
                revocation_ttl_seconds=reader.positive_float("SNAPPY_REVOCATION_TTL_SECONDS", 5.0),
                revocation_max_staleness_seconds=reader.positive_float(
                    "SNAPPY_REVOCATION_MAX_STALENESS_SECONDS", 60.0
                ),
            ),
            limits=Limits(
                max_upload_bytes=reader.positive_int("SNAPPY_MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
                max_image_pixels=reader.positive_int("SNAPPY_MAX_IMAGE_PIXELS", 40_000_000),
                max_caption_length=reader.positive_int("SNAPPY_MAX_CAPTION_LENGTH", 2000),
                default_page_size=reader.positive_int("SNAPPY_DEFAULT_PAGE_SIZE", 20),
                max_page_size=reader.positive_int("SNAPPY_MAX_PAGE_SIZE", 100),
            ),
            log_level=(reader.optional("SNAPPY_LOG_LEVEL") or "INFO").upper(),
        )


def _http_url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return value


def _optional_http_url(name: str, value: str | None) -> str | None:
    return None if value is None else _http_url(name, value)
