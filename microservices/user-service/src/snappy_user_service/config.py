"""Configuration of user-service, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table), with the monolith's name and meaning. Nothing is read at import time, so tests
and tools can build settings from any mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from snappy_plumbing.config import EnvironmentReader, sqlalchemy_url

__all__ = ["Settings", "TokenSettings"]


@dataclass(frozen=True)
class TokenSettings:
    """How access tokens are signed and checked."""

    private_key_pem: str | None = None
    issuer: str = "snappy"
    audience: str = "snappy-api"
    ttl_seconds: int = 3600


@dataclass(frozen=True)
class Settings:
    """Everything user-service needs to run."""

    database_url: str
    tokens: TokenSettings = field(default_factory=TokenSettings)
    log_level: str = "INFO"

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
                ttl_seconds=reader.positive_int("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", 3600),
            ),
            log_level=(reader.optional("SNAPPY_LOG_LEVEL") or "INFO").upper(),
        )
