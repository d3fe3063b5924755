"""Configuration of user-service, read from environment variables at call time.

Every setting has one environment variable (documented in the README's configuration
table), with the monolith's name and meaning, and one default: on its field
(`snappy_plumbing.config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snappy_plumbing import access_tokens
from snappy_plumbing.access_tokens import DEFAULT_TTL_SECONDS, token_ttl
from snappy_plumbing.config import ConfigurationError, non_negative_int, positive_int, section, variable
from snappy_plumbing.database import DatabaseServiceSettings

__all__ = ["LoginThrottleSettings", "Settings", "TokenSettings"]


@dataclass(frozen=True)
class TokenSettings(access_tokens.TokenSettings):
    """How access tokens are signed and checked."""

    private_key_pem: str | None = field(
        default=None, metadata=variable("SNAPPY_JWT_PRIVATE_KEY", from_file=True)
    )
    ttl_seconds: int = field(
        default=DEFAULT_TTL_SECONDS, metadata=variable("SNAPPY_ACCESS_TOKEN_TTL_SECONDS", token_ttl)
    )


@dataclass(frozen=True)
class LoginThrottleSettings:
    """How many failed log-ins an account and a client address get, and how long they then wait."""

    account_max_failures: int = field(
        default=5, metadata=variable("SNAPPY_LOGIN_ACCOUNT_MAX_FAILURES", positive_int)
    )
    account_window_seconds: int = field(
        default=3600, metadata=variable("SNAPPY_LOGIN_ACCOUNT_WINDOW_SECONDS", positive_int)
    )
    address_max_failures: int = field(
        default=100, metadata=variable("SNAPPY_LOGIN_ADDRESS_MAX_FAILURES", positive_int)
    )
    address_window_seconds: int = field(
        default=900, metadata=variable("SNAPPY_LOGIN_ADDRESS_WINDOW_SECONDS", positive_int)
    )
    # The first block; each further failure doubles it, up to the cap.
    block_seconds: int = field(default=30, metadata=variable("SNAPPY_LOGIN_BLOCK_SECONDS", positive_int))
    max_block_seconds: int = field(
        default=900, metadata=variable("SNAPPY_LOGIN_MAX_BLOCK_SECONDS", positive_int)
    )

    def __post_init__(self) -> None:
        if self.max_block_seconds < self.block_seconds:
            raise ConfigurationError(
                "SNAPPY_LOGIN_MAX_BLOCK_SECONDS must be at least SNAPPY_LOGIN_BLOCK_SECONDS"
            )


@dataclass(frozen=True)
class Settings(DatabaseServiceSettings):
    """Everything user-service needs to run."""

    tokens: TokenSettings = field(default_factory=TokenSettings, metadata=section())
    login_throttle: LoginThrottleSettings = field(default_factory=LoginThrottleSettings, metadata=section())
    # Proxies in front whose X-Forwarded-For entries are believed: 1 behind the edge, which
    # web-ui's calls count as too; 0 believes none.
    trusted_proxy_hops: int = field(
        default=0, metadata=variable("SNAPPY_TRUSTED_PROXY_HOPS", non_negative_int)
    )
