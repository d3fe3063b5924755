"""Configuration of the photo service, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table) and one default: on its field (`snappy_plumbing.config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snappy_plumbing.access_tokens import TokenCheckSettings
from snappy_plumbing.config import (
    ConfigurationError,
    http_url,
    positive_float,
    positive_int,
    section,
    sqlalchemy_url,
    variable,
)
from snappy_plumbing.database import DatabaseServiceSettings
from snappy_plumbing.peers import PeerPolicy

__all__ = [
    "ConfigurationError",
    "Limits",
    "S3Settings",
    "Settings",
    "TokenCheckSettings",
    "UserServiceSettings",
    "sqlalchemy_url",
]


@dataclass(frozen=True)
class S3Settings:
    """Where photos and thumbnails are stored."""

    bucket: str = field(metadata=variable("SNAPPY_S3_BUCKET"))
    endpoint_url: str | None = field(default=None, metadata=variable("SNAPPY_S3_ENDPOINT_URL"))
    region: str = field(default="us-east-1", metadata=variable("SNAPPY_S3_REGION"))
    access_key_id: str | None = field(default=None, metadata=variable("SNAPPY_S3_ACCESS_KEY_ID"))
    secret_access_key: str | None = field(default=None, metadata=variable("SNAPPY_S3_SECRET_ACCESS_KEY"))
    connect_timeout_seconds: float = field(
        default=1.0, metadata=variable("SNAPPY_S3_CONNECT_TIMEOUT_SECONDS", positive_float)
    )
    read_timeout_seconds: float = field(
        default=3.0, metadata=variable("SNAPPY_S3_READ_TIMEOUT_SECONDS", positive_float)
    )
    # Attempts of one call, the first included (botocore's standard retry mode).
    max_attempts: int = field(default=2, metadata=variable("SNAPPY_S3_MAX_ATTEMPTS", positive_int))

    def worst_case_seconds(self) -> float:
        """The longest one S3 call can take: every attempt timing out, plus the backoff between."""
        backoff = 2.0 ** (self.max_attempts - 1) - 1  # botocore: at most 1 s, 2 s, 4 s, ...
        return self.max_attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff


@dataclass(frozen=True)
class UserServiceSettings:
    """How to reach user-service, and how long to trust what it said."""

    url: str = field(metadata=variable("SNAPPY_USER_SERVICE_URL", http_url))
    # Lookups run inside the request budget: a shorter wait and fewer attempts than web-ui's.
    calls: PeerPolicy = field(default=PeerPolicy(read_timeout_seconds=3.0, attempts=2), metadata=section())
    cache_ttl_seconds: float = field(
        default=600.0, metadata=variable("SNAPPY_USER_CACHE_TTL_SECONDS", positive_float)
    )


@dataclass(frozen=True)
class Limits:
    """Explicit limits on what a client may send or ask for."""

    max_upload_bytes: int = field(
        default=10 * 1024 * 1024, metadata=variable("SNAPPY_MAX_UPLOAD_BYTES", positive_int)
    )
    max_image_pixels: int = field(
        default=40_000_000, metadata=variable("SNAPPY_MAX_IMAGE_PIXELS", positive_int)
    )
    max_caption_length: int = field(
        default=2000, metadata=variable("SNAPPY_MAX_CAPTION_LENGTH", positive_int)
    )
    default_page_size: int = field(default=20, metadata=variable("SNAPPY_DEFAULT_PAGE_SIZE", positive_int))
    max_page_size: int = field(default=100, metadata=variable("SNAPPY_MAX_PAGE_SIZE", positive_int))
    thumbnail_size: int = 320


@dataclass(frozen=True)
class Settings(DatabaseServiceSettings):
    """Everything the service needs to run."""

    s3: S3Settings = field(metadata=section())
    user_service: UserServiceSettings = field(metadata=section())
    tokens: TokenCheckSettings = field(default_factory=TokenCheckSettings, metadata=section())
    limits: Limits = field(default_factory=Limits, metadata=section())

    def other_worst_cases(self) -> dict[str, float]:
        """An S3 call's and a user-service lookup's."""
        return {
            "an S3 call": self.s3.worst_case_seconds(),
            "a user-service lookup": self.user_service.calls.read_worst_case_seconds(),
        }
