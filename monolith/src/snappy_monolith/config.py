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

__all__ = [
    "MAX_TOKEN_TTL_SECONDS",
    "ConfigurationError",
    "DatabaseTimeouts",
    "Limits",
    "LoginThrottleSettings",
    "S3Settings",
    "Settings",
    "TokenSettings",
    "check_ttl_seconds",
]

# The longest lifetime a token may have: longer is a configuration error, and a token
# claiming more is refused even when its signature is good.
MAX_TOKEN_TTL_SECONDS = 86_400


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
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 3.0
    # Attempts of one call, the first included (botocore's standard retry mode).
    max_attempts: int = 2

    def worst_case_seconds(self) -> float:
        """The longest one S3 call can take: every attempt timing out, plus the backoff between."""
        backoff = 2.0 ** (self.max_attempts - 1) - 1  # botocore: at most 1 s, 2 s, 4 s, ...
        return self.max_attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long each step of talking to PostgreSQL may take (docs/security.md, Deadlines)."""

    pool_timeout_seconds: float = 1.0
    # libpq counts whole seconds, and at least 2.
    connect_timeout_seconds: int = 2
    lock_timeout_seconds: float = 1.0
    statement_timeout_seconds: float = 3.0
    # Client side: the longest wait for any answer, for a server or network that stalls.
    answer_timeout_seconds: float = 4.0

    def worst_case_seconds(self) -> float:
        """The longest one database call can take: checkout, a failed pre-ping, reconnect, statement."""
        return (
            self.pool_timeout_seconds
            + self.answer_timeout_seconds
            + self.connect_timeout_seconds
            + self.answer_timeout_seconds
        )

    def check(self) -> None:
        """ConfigurationError unless the limits nest: lock < statement < answer."""
        if self.connect_timeout_seconds < 2:
            raise ConfigurationError("SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS must be at least 2")
        if not self.lock_timeout_seconds < self.statement_timeout_seconds:
            raise ConfigurationError(
                "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS must be below SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS"
            )
        if not self.statement_timeout_seconds < self.answer_timeout_seconds:
            raise ConfigurationError(
                "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS must be below"
                " SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS, so the server cancels a slow statement"
                " before the client gives up on it"
            )


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
class LoginThrottleSettings:
    """How many failed log-ins an account and a client address get, and how long they then wait."""

    account_max_failures: int = 5
    account_window_seconds: int = 3600
    address_max_failures: int = 100
    address_window_seconds: int = 900
    # The first block; each further failure doubles it, up to the cap.
    block_seconds: int = 30
    max_block_seconds: int = 900

    def __post_init__(self) -> None:
        if self.max_block_seconds < self.block_seconds:
            raise ConfigurationError(
                "SNAPPY_LOGIN_MAX_BLOCK_SECONDS must be at least SNAPPY_LOGIN_BLOCK_SECONDS"
            )

    @classmethod
    def from_environ(cls, reader: _EnvironmentReader) -> LoginThrottleSettings:
        """The throttle's settings from their variables."""
        return cls(
            account_max_failures=reader.positive_int("SNAPPY_LOGIN_ACCOUNT_MAX_FAILURES", 5),
            account_window_seconds=reader.positive_int("SNAPPY_LOGIN_ACCOUNT_WINDOW_SECONDS", 3600),
            address_max_failures=reader.positive_int("SNAPPY_LOGIN_ADDRESS_MAX_FAILURES", 100),
            address_window_seconds=reader.positive_int("SNAPPY_LOGIN_ADDRESS_WINDOW_SECONDS", 900),
            block_seconds=reader.positive_int("SNAPPY_LOGIN_BLOCK_SECONDS", 30),
            max_block_seconds=reader.positive_int("SNAPPY_LOGIN_MAX_BLOCK_SECONDS", 900),
        )


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
    database: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # The longest a request may take when one dependency fails; below the edge's upstream
    # timeout and gunicorn's worker timeout, above every dependency call (checked here).
    request_budget_seconds: float = 15.0
    login_throttle: LoginThrottleSettings = field(default_factory=LoginThrottleSettings)
    # Proxies in front whose X-Forwarded-For entries are believed (the edge: 1); 0 believes none.
    trusted_proxy_hops: int = 0
    # The services that own users (phase 1 on) and photos (phase 2 on) of the strangler
    # migration (snappy_monolith.ownership); unset where the monolith owns everything.
    user_service_url: str | None = None
    photo_service_url: str | None = None
    # The longest one call to a service may take, connecting included.
    service_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        self.database.check()
        calls = {
            "a PostgreSQL call": self.database.worst_case_seconds(),
            "an S3 call": self.s3.worst_case_seconds(),
            "a call to a service": self.service_timeout_seconds,
        }
        for call, worst_case in calls.items():
            if not worst_case < self.request_budget_seconds:
                raise ConfigurationError(
                    f"SNAPPY_REQUEST_BUDGET_SECONDS ({self.request_budget_seconds} s) must exceed"
                    f" the longest {call} can take ({worst_case} s)"
                )

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
                connect_timeout_seconds=reader.positive_float("SNAPPY_S3_CONNECT_TIMEOUT_SECONDS", 1.0),
                read_timeout_seconds=reader.positive_float("SNAPPY_S3_READ_TIMEOUT_SECONDS", 3.0),
                max_attempts=reader.positive_int("SNAPPY_S3_MAX_ATTEMPTS", 2),
            ),
            database=DatabaseTimeouts(
                pool_timeout_seconds=reader.positive_float("SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS", 1.0),
                connect_timeout_seconds=reader.positive_int("SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS", 2),
                lock_timeout_seconds=reader.positive_float("SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS", 1.0),
                statement_timeout_seconds=reader.positive_float(
                    "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS", 3.0
                ),
                answer_timeout_seconds=reader.positive_float("SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS", 4.0),
            ),
            request_budget_seconds=reader.positive_float("SNAPPY_REQUEST_BUDGET_SECONDS", 15.0),
            tokens=TokenSettings(
                private_key_pem=_private_key_pem(reader),
                issuer=reader.optional("SNAPPY_JWT_ISSUER") or "snappy",
                audience=reader.optional("SNAPPY_JWT_AUDIENCE") or "snappy-api",
                ttl_seconds=check_ttl_seconds(reader.positive_int("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", 3600)),
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
            login_throttle=LoginThrottleSettings.from_environ(reader),
            trusted_proxy_hops=reader.non_negative_int("SNAPPY_TRUSTED_PROXY_HOPS", 0),
            user_service_url=_base_url(reader.optional("SNAPPY_USER_SERVICE_URL")),
            photo_service_url=_base_url(reader.optional("SNAPPY_PHOTO_SERVICE_URL")),
            service_timeout_seconds=reader.positive_float("SNAPPY_SERVICE_TIMEOUT_SECONDS", 5.0),
        )

    def effective_secret_key(self) -> str:
        """The session-signing secret; a random one (one process only) when none is set."""
        return self.secret_key or _process_secret()


def check_ttl_seconds(ttl_seconds: int) -> int:
    """The token lifetime, if it is from 1 s to MAX_TOKEN_TTL_SECONDS; ConfigurationError otherwise."""
    if not 1 <= ttl_seconds <= MAX_TOKEN_TTL_SECONDS:
        raise ConfigurationError(
            f"SNAPPY_ACCESS_TOKEN_TTL_SECONDS must be from 1 to {MAX_TOKEN_TTL_SECONDS}, got {ttl_seconds}"
        )
    return ttl_seconds


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg 3 driver on a plain `postgresql://` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_PROCESS_SECRET: list[str] = []


def _base_url(url: str | None) -> str | None:
    """A service's base URL without its trailing slash; ConfigurationError unless http(s)."""
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"a service URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


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

    def positive_float(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if not value > 0:
            raise ConfigurationError(f"{name} must be above 0, got {value}")
        return value

    def non_negative_int(self, name: str, default: int) -> int:
        """A whole number of at least 0."""
        raw = self.optional(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()):
            raise ConfigurationError(f"{name} must be a whole number of at least 0, got {raw!r}")
        return int(raw)

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
