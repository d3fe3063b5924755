"""user-service's settings: its variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors, `_FILE` variables) is plumbing's
rule, tested once in tests/plumbing/test_config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.database import DatabaseTimeouts
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_user_service import create_app
from snappy_user_service.config import LoginThrottleSettings, Settings, TokenSettings

MINIMAL = {"SNAPPY_DATABASE_URL": "postgresql://u@db:5432/users"}
DATABASE_URL = "postgresql+psycopg://u@db:5432/users"


def test_only_the_database_is_required_and_the_rest_are_the_fields_defaults() -> None:
    assert Settings.from_environ(MINIMAL) == Settings(database_url=DATABASE_URL)
    with pytest.raises(ConfigurationError, match="SNAPPY_DATABASE_URL is required"):
        Settings.from_environ({})


def test_every_setting_is_read_from_its_variable() -> None:
    environ = {
        **MINIMAL,
        "SNAPPY_JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\ninline",
        "SNAPPY_JWT_ISSUER": "iss",
        "SNAPPY_JWT_AUDIENCE": "aud",
        "SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "60",
        "SNAPPY_LOG_LEVEL": "debug",
        "SNAPPY_LOGIN_ACCOUNT_MAX_FAILURES": "3",
        "SNAPPY_LOGIN_ACCOUNT_WINDOW_SECONDS": "600",
        "SNAPPY_LOGIN_ADDRESS_MAX_FAILURES": "50",
        "SNAPPY_LOGIN_ADDRESS_WINDOW_SECONDS": "300",
        "SNAPPY_LOGIN_BLOCK_SECONDS": "10",
        "SNAPPY_LOGIN_MAX_BLOCK_SECONDS": "100",
        "SNAPPY_TRUSTED_PROXY_HOPS": "1",
        "SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS": "0.5",
        "SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
        "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": "0.5",
        "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
        "SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS": "2.5",
        "SNAPPY_REQUEST_BUDGET_SECONDS": "9",
    }

    assert Settings.from_environ(environ) == Settings(
        database_url=DATABASE_URL,
        tokens=TokenSettings(
            issuer="iss",
            audience="aud",
            private_key_pem="-----BEGIN PRIVATE KEY-----\ninline",
            ttl_seconds=60,
        ),
        log_level="DEBUG",
        login_throttle=LoginThrottleSettings(
            account_max_failures=3,
            account_window_seconds=600,
            address_max_failures=50,
            address_window_seconds=300,
            block_seconds=10,
            max_block_seconds=100,
        ),
        trusted_proxy_hops=1,
        database=DatabaseTimeouts(
            pool_timeout_seconds=0.5,
            connect_timeout_seconds=3,
            lock_timeout_seconds=0.5,
            statement_timeout_seconds=2.0,
            answer_timeout_seconds=2.5,
        ),
        request_budget_seconds=9.0,
    )


def test_the_signing_key_may_be_a_mounted_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\n...")

    settings = Settings.from_environ({**MINIMAL, "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file)})

    assert settings.tokens.private_key_pem == "-----BEGIN PRIVATE KEY-----\n..."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "86401"},
            "SNAPPY_ACCESS_TOKEN_TTL_SECONDS must be from 1 to 86400",
        ),
        (
            {"SNAPPY_LOGIN_BLOCK_SECONDS": "60", "SNAPPY_LOGIN_MAX_BLOCK_SECONDS": "30"},
            "SNAPPY_LOGIN_MAX_BLOCK_SECONDS must be at least SNAPPY_LOGIN_BLOCK_SECONDS",
        ),
        # 1 + 4 + 2 + 4 = 11 s for one database call: a 10 s budget cannot hold it.
        ({"SNAPPY_REQUEST_BUDGET_SECONDS": "10"}, "SNAPPY_REQUEST_BUDGET_SECONDS"),
        ({"SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": "3"}, "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS"),
        ({"SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "5"}, "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS"),
        ({"SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS": "1"}, "SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS"),
    ],
)
def test_settings_that_do_not_hold_together_stop_the_start(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_environ({**MINIMAL, **overrides})


def test_a_key_that_is_not_ed25519_stops_the_start() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )

    with pytest.raises(ConfigurationError, match="Ed25519"):
        create_app(Settings.from_environ({**MINIMAL, "SNAPPY_JWT_PRIVATE_KEY": pem}))


def test_a_valid_key_builds_the_app_without_touching_the_database() -> None:
    environ = {**MINIMAL, "SNAPPY_JWT_PRIVATE_KEY": generate_private_key_pem()}

    app = create_app(Settings.from_environ(environ))

    assert app.test_client().get("/healthz").status_code == 200
