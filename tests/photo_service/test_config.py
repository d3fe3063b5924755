"""photo-service's settings: its own variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors), and the sections every service
shares (log level, database, request budget, calls to peers, token checks), are
plumbing's, tested once in tests/plumbing/test_config.py.
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
    # Lookups run inside the 15 s request budget: 2 x (1 + 3) + 0.1 s at worst.
    assert settings.user_service.calls == PeerPolicy(read_timeout_seconds=3.0, attempts=2)


def test_its_own_settings_are_read_from_their_variables() -> None:
    environ = {
        **MINIMAL,
        "SNAPPY_S3_ENDPOINT_URL": "https://ams3.digitaloceanspaces.com",
        "SNAPPY_S3_REGION": "ams3",
        "SNAPPY_S3_ACCESS_KEY_ID": "key",
        "SNAPPY_S3_SECRET_ACCESS_KEY": "secret",
        "SNAPPY_S3_CONNECT_TIMEOUT_SECONDS": "0.5",
        "SNAPPY_S3_READ_TIMEOUT_SECONDS": "2",
        "SNAPPY_S3_MAX_ATTEMPTS": "3",
        "SNAPPY_USER_CACHE_TTL_SECONDS": "30",
        "SNAPPY_PEER_ATTEMPTS": "1",
        "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
        "SNAPPY_MAX_UPLOAD_BYTES": "2048",
        "SNAPPY_MAX_IMAGE_PIXELS": "1000",
        "SNAPPY_MAX_CAPTION_LENGTH": "10",
        "SNAPPY_DEFAULT_PAGE_SIZE": "5",
        "SNAPPY_MAX_PAGE_SIZE": "50",
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
            calls=PeerPolicy(read_timeout_seconds=3.0, attempts=1),
            cache_ttl_seconds=30.0,
        ),
        tokens=TokenCheckSettings(jwks_url="https://keys.example/jwks.json"),
        limits=Limits(
            max_upload_bytes=2048,
            max_image_pixels=1000,
            max_caption_length=10,
            default_page_size=5,
            max_page_size=50,
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SNAPPY_USER_SERVICE_URL": ""}, "SNAPPY_USER_SERVICE_URL is required"),
        ({"SNAPPY_USER_SERVICE_URL": "user-service:8000"}, "SNAPPY_USER_SERVICE_URL must be an http"),
        ({"SNAPPY_S3_BUCKET": ""}, "SNAPPY_S3_BUCKET is required"),
        # The budget must hold its S3 calls and lookups too: 4 x (1 + 3) + 0.7 s for a lookup, ...
        ({"SNAPPY_PEER_ATTEMPTS": "4"}, r"the longest a user-service lookup can take \(16.7 s\)"),
        # ... 4 x (1 + 3) + 7 s for an S3 call.
        ({"SNAPPY_S3_MAX_ATTEMPTS": "4"}, r"the longest an S3 call can take \(23.0 s\)"),
    ],
)
def test_settings_that_do_not_hold_together_stop_the_start(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_environ({**MINIMAL, **overrides})
