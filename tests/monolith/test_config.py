"""Configuration comes from the environment, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from snappy_monolith.config import ConfigurationError, Settings

MINIMAL = {"SNAPPY_DATABASE_URL": "postgresql://u@db:5432/snappy", "SNAPPY_S3_BUCKET": "photos"}


def test_defaults_apply_when_only_the_required_settings_are_given() -> None:
    settings = Settings.from_environ(MINIMAL)

    assert settings.database_url == "postgresql+psycopg://u@db:5432/snappy"
    assert settings.s3.bucket == "photos"
    assert settings.s3.endpoint_url is None
    assert settings.limits.max_upload_bytes == 10 * 1024 * 1024
    assert settings.limits.max_page_size == 100
    assert settings.tokens.ttl_seconds == 3600
    assert settings.tokens.private_key_pem is None


def test_every_setting_is_read_from_its_variable() -> None:
    environ = {
        **MINIMAL,
        "SNAPPY_S3_ENDPOINT_URL": "https://ams3.digitaloceanspaces.com",
        "SNAPPY_S3_REGION": "ams3",
        "SNAPPY_MAX_UPLOAD_BYTES": "2048",
        "SNAPPY_MAX_IMAGE_PIXELS": "1000",
        "SNAPPY_MAX_CAPTION_LENGTH": "10",
        "SNAPPY_JWT_AUDIENCE": "aud",
        "SNAPPY_SESSION_COOKIE_SECURE": "true",
        "SNAPPY_LOG_LEVEL": "debug",
    }

    settings = Settings.from_environ(environ)

    assert settings.s3.endpoint_url == "https://ams3.digitaloceanspaces.com"
    assert settings.s3.region == "ams3"
    assert settings.limits.max_upload_bytes == 2048
    assert settings.limits.max_image_pixels == 1000
    assert settings.limits.max_caption_length == 10
    assert settings.tokens.audience == "aud"
    assert settings.session_cookie_secure is True
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
        ({"SNAPPY_S3_BUCKET": " "}, "SNAPPY_S3_BUCKET is required"),
        ({"SNAPPY_MAX_UPLOAD_BYTES": "ten"}, "SNAPPY_MAX_UPLOAD_BYTES must be a whole number"),
        ({"SNAPPY_MAX_PAGE_SIZE": "0"}, "SNAPPY_MAX_PAGE_SIZE must be at least 1"),
        ({"SNAPPY_SESSION_COOKIE_SECURE": "maybe"}, "SNAPPY_SESSION_COOKIE_SECURE must be true or false"),
        ({"SNAPPY_JWT_PRIVATE_KEY_FILE": "/no/such/key.pem"}, "cannot read /no/such/key.pem"),
    ],
)
def test_bad_settings_are_named_in_the_error(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_environ({**MINIMAL, **overrides})
