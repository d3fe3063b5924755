"""user-service's settings: its own variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors, `_FILE` variables), and the
sections every service shares (log level, database, request budget, token issuer and
audience), are plumbing's, tested once in tests/plumbing/test_config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_user_service import create_app
from snappy_user_service.config import LoginThrottleSettings, Settings, TokenSettings
from tests.support.settings import Reads, Refuses, SettingsCase, the_required_variables

MINIMAL = {"SNAPPY_DATABASE_URL": "postgresql://u@db:5432/users"}
DATABASE_URL = "postgresql+psycopg://u@db:5432/users"

SETTINGS: list[SettingsCase] = [
    # Only the database is required.
    *the_required_variables(MINIMAL, Settings(database_url=DATABASE_URL)),
    Reads(
        "its own settings are read from their variables",
        {
            "SNAPPY_JWT_ISSUER": "iss",
            "SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "60",
            "SNAPPY_LOGIN_ACCOUNT_MAX_FAILURES": "3",
            "SNAPPY_LOGIN_ACCOUNT_WINDOW_SECONDS": "600",
            "SNAPPY_LOGIN_ADDRESS_MAX_FAILURES": "50",
            "SNAPPY_LOGIN_ADDRESS_WINDOW_SECONDS": "300",
            "SNAPPY_LOGIN_BLOCK_SECONDS": "10",
            "SNAPPY_LOGIN_MAX_BLOCK_SECONDS": "100",
            "SNAPPY_TRUSTED_PROXY_HOPS": "1",
        },
        Settings(
            database_url=DATABASE_URL,
            tokens=TokenSettings(
                issuer="iss", private_key_pem="-----BEGIN PRIVATE KEY-----\n...", ttl_seconds=60
            ),
            login_throttle=LoginThrottleSettings(
                account_max_failures=3,
                account_window_seconds=600,
                address_max_failures=50,
                address_window_seconds=300,
                block_seconds=10,
                max_block_seconds=100,
            ),
            trusted_proxy_hops=1,
        ),
        # The signing key as a mounted secret: its file's variable.
        files={"SNAPPY_JWT_PRIVATE_KEY_FILE": "-----BEGIN PRIVATE KEY-----\n..."},
    ),
    # A block longer than its cap.
    Refuses(
        {"SNAPPY_LOGIN_BLOCK_SECONDS": "60", "SNAPPY_LOGIN_MAX_BLOCK_SECONDS": "30"},
        "SNAPPY_LOGIN_MAX_BLOCK_SECONDS must be at least SNAPPY_LOGIN_BLOCK_SECONDS",
    ),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.summary)
def test_settings(case: SettingsCase, tmp_path: Path) -> None:
    case.check(Settings.from_environ, MINIMAL, ConfigurationError, tmp_path)


def test_a_valid_key_builds_the_app_without_touching_the_database() -> None:
    environ = {**MINIMAL, "SNAPPY_JWT_PRIVATE_KEY": generate_private_key_pem()}

    app = create_app(Settings.from_environ(environ))

    assert app.test_client().get("/healthz").status_code == 200
