"""Configuration of the monolith, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table). Nothing is read at import time, so tests and tools can build settings from any
mapping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ConfigurationError", "Limits", "S3Settings", "Settings", "TokenSettings"]


class ConfigurationError(Exception):
    """A required setting is missing or a setting has an invalid value."""


@dataclass(frozen=True)
class S3Settings:
    """Where photos and thumbnails are stored."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class TokenSettings:
    """How access tokens are signed and checked."""

    private_key_pem: str | None = None
    issuer: str = "snappy"
    audience: str = "snappy-api"
    ttl_seconds: int = 3600


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
    """Everything the application needs to run."""

    database_url: str
    s3: S3Settings
    tokens: TokenSettings = field(default_factory=TokenSettings)
    limits: Limits = field(default_factory=Limits)
    secret_key: str | None = None
    session_cookie_secure: bool = False
    log_level: str = "INFO"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (the process environment by default)."""
        env = os.environ if environ is None else environ
        reader = _EnvironmentReader(env)
        return cls(
            database_url=sqlalchemy_url(reader.required("SNAPPY_DATABASE_URL")),
            s3=S3Settings(
                bucket=reader.required("SNAPPY_S3_BUCKET"),
                endpoint_url=reader.optional("SNAPPY_S3_ENDPOINT_URL"),
                region=reader.optional("SNAPPY_S3_REGION") or "us-east-1",
                access_key_id=reader.optional("SNAPPY_S3_ACCESS_KEY_ID"),
                secret_access_key=reader.optional("SNAPPY_S3_SECRET_ACCESS_KEY"),
            ),
            tokens=TokenSettings(
                private_key_pem=_private_key_pem(reader),
                issuer=reader.optional("SNAPPY_JWT_ISSUER") or "snappy",
                audience=reader.optional("SNAPPY_JWT_AUDIENCE") or "snappy-api",
                ttl_seconds=reader.positive_int("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", 3600),
            ),
            limits=Limits(
                max_upload_bytes=reader.positive_int("SNAPPY_MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
                max_image_pixels=reader.positive_int("SNAPPY_MAX_IMAGE_PIXELS", 40_000_000),
                max_caption_length=reader.positive_int("SNAPPY_MAX_CAPTION_LENGTH", 2000),
                default_page_size=reader.positive_int("SNAPPY_DEFAULT_PAGE_SIZE", 20),
                max_page_size=reader.positive_int("SNAPPY_MAX_PAGE_SIZE", 100),
            ),
            secret_key=reader.optional("SNAPPY_SECRET_KEY"),
            session_cookie_secure=reader.boolean("SNAPPY_SESSION_COOKIE_SECURE", False),
            log_level=(reader.optional("SNAPPY_LOG_LEVEL") or "INFO").upper(),
        )

    def effective_secret_key(self) -> str:
        """The session-signing secret; a random one (one process only) when none is set."""
        return self.secret_key or _process_secret()


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg 3 driver on a plain `postgresql://` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_PROCESS_SECRET: list[str] = []


def _process_secret() -> str:
    if not _PROCESS_SECRET:
        _PROCESS_SECRET.append(secrets.token_urlsafe(32))
    return _PROCESS_SECRET[0]


def _private_key_pem(reader: _EnvironmentReader) -> str | None:
    inline = reader.optional("SNAPPY_JWT_PRIVATE_KEY")
    if inline:
        return inline
    path = reader.optional("SNAPPY_JWT_PRIVATE_KEY_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as key_file:
            return key_file.read()
    except OSError as exc:
        raise ConfigurationError(f"SNAPPY_JWT_PRIVATE_KEY_FILE: cannot read {path}: {exc}") from exc


class _EnvironmentReader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigurationError(f"{name} is required")
        return value

    def positive_int(self, name: str, default: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
