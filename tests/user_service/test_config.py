"""user-service's configuration comes from the environment, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_user_service import create_app
from snappy_user_service.config import Settings

MINIMAL = {"SNAPPY_DATABASE_URL": "postgresql://u@db:5432/users"}


def test_defaults_apply_when_only_the_database_is_given() -> None:
    settings = Settings.from_environ(MINIMAL)

    assert settings.database_url == "postgresql+psycopg://u@db:5432/users"
    assert settings.tokens.private_key_pem is None
    assert settings.tokens.issuer == "snappy"
    assert settings.tokens.audience == "snappy-api"
    assert settings.tokens.ttl_seconds == 3600
    assert settings.log_level == "INFO"


def test_every_setting_is_read_from_its_variable() -> None:
    environ = {
        **MINIMAL,
        "SNAPPY_JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\ninline",
        "SNAPPY_JWT_ISSUER": "iss",
        "SNAPPY_JWT_AUDIENCE": "aud",
        "SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "60",
        "SNAPPY_LOG_LEVEL": "debug",
    }

    settings = Settings.from_environ(environ)

    assert settings.tokens.private_key_pem == "-----BEGIN PRIVATE KEY-----\ninline"
    assert settings.tokens.issuer == "iss"
    assert settings.tokens.audience == "aud"
    assert settings.tokens.ttl_seconds == 60
    assert settings.log_level == "DEBUG"


def test_the_signing_key_can_come_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\n...")

    settings = Settings.from_environ({**MINIMAL, "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file)})

    assert settings.tokens.private_key_pem == "-----BEGIN PRIVATE KEY-----\n..."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SNAPPY_DATABASE_URL": ""}, "SNAPPY_DATABASE_URL is required"),
        ({"SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "an hour"}, "SNAPPY_ACCESS_TOKEN_TTL_SECONDS must be a whole"),
        ({"SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "0"}, "SNAPPY_ACCESS_TOKEN_TTL_SECONDS must be at least 1"),
        ({"SNAPPY_JWT_PRIVATE_KEY_FILE": "/no/such/key.pem"}, "cannot read /no/such/key.pem"),
    ],
)
def test_bad_settings_are_named_in_the_error(overrides: dict[str, str], message: str) -> None:
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
