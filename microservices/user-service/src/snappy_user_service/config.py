"""Configuration of user-service, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table), with the monolith's name and meaning. Nothing is read at import time, so tests
and tools can build settings from any mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from snappy_plumbing.config import ConfigurationError, EnvironmentReader, sqlalchemy_url
from snappy_plumbing.database import DatabaseTimeouts
from snappy_plumbing.tokens import check_ttl_seconds

__all__ = ["LoginThrottleSettings", "Settings", "TokenSettings"]


@dataclass(frozen=True)
class TokenSettings:
    """How access tokens are signed and checked."""

    private_key_pem: str | None = None
    issuer: str = "snappy"
    audience: str = "snappy-api"
    ttl_seconds: int = 3600


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
    def from_environ(cls, reader: EnvironmentReader) -> LoginThrottleSettings:
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
    """Everything user-service needs to run."""

    database_url: str
    tokens: TokenSettings = field(default_factory=TokenSettings)
    log_level: str = "INFO"
    login_throttle: LoginThrottleSettings = field(default_factory=LoginThrottleSettings)
    # Proxies in front whose X-Forwarded-For entries are believed: 1 behind the edge, which
    # web-ui's calls count as too; 0 believes none.
    trusted_proxy_hops: int = 0
    database: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # The longest a request may take when PostgreSQL fails, as in photo-service: below
    # web-ui's write timeout, the edge's upstream timeout and gunicorn's worker timeout,
    # above the longest database call (checked here).
    request_budget_seconds: float = 15.0

    def __post_init__(self) -> None:
        self.database.check()
        worst_case = self.database.worst_case_seconds()
        if not worst_case < self.request_budget_seconds:
            raise ConfigurationError(
                f"SNAPPY_REQUEST_BUDGET_SECONDS ({self.request_budget_seconds} s) must exceed"
                f" the longest a PostgreSQL call can take ({worst_case} s)"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (the process environment by default)."""
        reader = EnvironmentReader(os.environ if environ is None else environ)
        return cls(
            database_url=sqlalchemy_url(reader.required("SNAPPY_DATABASE_URL")),
            tokens=TokenSettings(
                private_key_pem=reader.text_or_file("SNAPPY_JWT_PRIVATE_KEY"),
                issuer=reader.optional("SNAPPY_JWT_ISSUER") or "snappy",
                audience=reader.optional("SNAPPY_JWT_AUDIENCE") or "snappy-api",
                ttl_seconds=check_ttl_seconds(reader.positive_int("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", 3600)),
            ),
            log_level=(reader.optional("SNAPPY_LOG_LEVEL") or "INFO").upper(),
            login_throttle=LoginThrottleSettings.from_environ(reader),
            trusted_proxy_hops=reader.non_negative_int("SNAPPY_TRUSTED_PROXY_HOPS", 0),
            database=DatabaseTimeouts.from_reader(reader),
            request_budget_seconds=reader.positive_float("SNAPPY_REQUEST_BUDGET_SECONDS", 15.0),
        )
