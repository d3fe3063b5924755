"""photo-service's settings: its variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors) is plumbing's rule, tested once in
tests/plumbing/test_config.py; how its calls to user-service are made, in
tests/plumbing/test_peers.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from snappy_photo_service.config import (
    ConfigurationError,
    Limits,
    S3Settings,
    Settings,
    TokenCheckSettings,
    UserServiceSettings,
)
from snappy_plumbing.database import DatabaseTimeouts
from snappy_plumbing.peers import PeerPolicy

MINIMAL = {
    "SNAPPY_DATABASE_URL": "postgresql://photos@db/photos",
    "SNAPPY_S3_BUCKET": "photos",
    "SNAPPY_USER_SERVICE_URL": "http://user-service:8000/",
}


# What MINIMAL stands for, as the dataclasses write it.
MINIMAL_SETTINGS = Settings(
    database_url="postgresql+psycopg://photos@db/photos",
    s3=S3Settings(bucket="photos"),
    user_service=UserServiceSettings(url="http://user-service:8000/"),
)


def test_three_settings_are_required_and_the_rest_are_the_fields_defaults() -> None:
    settings = Settings.from_environ(MINIMAL)

    assert settings == MINIMAL_SETTINGS
    assert settings.tokens.signer_keys_url(settings.user_service.url) == (
        "http://user-service:8000/.well-known/jwks.json"
    )
    # Lookups run inside the 15 s request budget: 2 x (1 + 3) + 0.1 s at worst.
    assert settings.user_service.calls == PeerPolicy(read_timeout_seconds=3.0, attempts=2)


def test_every_setting_is_read_from_its_variable() -> None:
    environ = {
        **MINIMAL,
        "SNAPPY_S3_ENDPOINT_URL": "https://ams3.digitaloceanspaces.com",
        "SNAPPY_S3_REGION": "ams3",
        "SNAPPY_S3_ACCESS_KEY_ID": "key",
        "SNAPPY_S3_SECRET_ACCESS_KEY": "secret",
        "SNAPPY_S3_CONNECT_TIMEOUT_SECONDS": "0.5",
        "SNAPPY_S3_READ_TIMEOUT_SECONDS": "2",
        "SNAPPY_S3_MAX_ATTEMPTS": "3",
        "SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS": "0.5",
        "SNAPPY_PEER_READ_TIMEOUT_SECONDS": "2",
        "SNAPPY_PEER_ATTEMPTS": "4",
        "SNAPPY_USER_CACHE_TTL_SECONDS": "30",
        "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
        "SNAPPY_JWT_ISSUER": "iss",
        "SNAPPY_JWT_AUDIENCE": "other-api",
        "SNAPPY_REVOCATION_TTL_SECONDS": "2",
        "SNAPPY_REVOCATION_MAX_STALENESS_SECONDS": "30",
        "SNAPPY_MAX_UPLOAD_BYTES": "2048",
        "SNAPPY_MAX_IMAGE_PIXELS": "1000",
        "SNAPPY_MAX_CAPTION_LENGTH": "10",
        "SNAPPY_DEFAULT_PAGE_SIZE": "5",
        "SNAPPY_MAX_PAGE_SIZE": "50",
        "SNAPPY_LOG_LEVEL": "debug",
        "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
        "SNAPPY_REQUEST_BUDGET_SECONDS": "20",
    }

    assert Settings.from_environ(environ) == replace(
        MINIMAL_SETTINGS,
        s3=S3Settings(
            bucket="photos",
            endpoint_url="https://ams3.digitaloceanspaces.com",
            region="ams3",
            access_key_id="key",
            secret_access_key="secret",
            connect_timeout_seconds=0.5,
            read_timeout_seconds=2.0,
            max_attempts=3,
        ),
        user_service=UserServiceSettings(
            url="http://user-service:8000/",
            calls=PeerPolicy(read_timeout_seconds=2.0, attempts=4, connect_timeout_seconds=0.5),
            cache_ttl_seconds=30.0,
        ),
        tokens=TokenCheckSettings(
            issuer="iss",
            audience="other-api",
            jwks_url="https://keys.example/jwks.json",
            revocation_ttl_seconds=2.0,
            revocation_max_staleness_seconds=30.0,
        ),
        limits=Limits(
            max_upload_bytes=2048,
            max_image_pixels=1000,
            max_caption_length=10,
            default_page_size=5,
            max_page_size=50,
        ),
        log_level="DEBUG",
        database=DatabaseTimeouts(statement_timeout_seconds=2.0),
        request_budget_seconds=20.0,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SNAPPY_USER_SERVICE_URL": ""}, "SNAPPY_USER_SERVICE_URL is required"),
        ({"SNAPPY_USER_SERVICE_URL": "user-service:8000"}, "SNAPPY_USER_SERVICE_URL must be an http"),
        ({"SNAPPY_JWKS_URL": "file:///etc/jwks.json"}, "SNAPPY_JWKS_URL must be an http"),
        ({"SNAPPY_S3_BUCKET": ""}, "SNAPPY_S3_BUCKET is required"),
        # Every call must fit in the budget: 4 x (1 + 3) + 0.7 s for a lookup, ...
        ({"SNAPPY_PEER_ATTEMPTS": "4"}, r"the longest a user-service lookup can take \(16.7 s\)"),
        # ... 4 x (1 + 3) + 7 s for an S3 call, 1 + 6 + 2 + 6 s for a PostgreSQL one.
        ({"SNAPPY_S3_MAX_ATTEMPTS": "4"}, r"the longest an S3 call can take \(23.0 s\)"),
        (
            {"SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS": "6"},
            r"the longest a PostgreSQL call can take \(15.0 s\)",
        ),
    ],
)
def test_settings_that_do_not_hold_together_stop_the_start(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_environ({**MINIMAL, **overrides})
