"""photo-service's settings: its own variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors), and the sections every service
shares (log level, database, request budget, calls to peers, token checks), are
plumbing's, tested once in tests/plumbing/test_config.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
from tests.support.settings import Reads, Refuses, SettingsCase, the_required_variables

MINIMAL = {
    "SNAPPY_DATABASE_URL": "postgresql://photos@db/photos",
    "SNAPPY_S3_BUCKET": "photos",
    "SNAPPY_USER_SERVICE_URL": "http://user-service:8000/",
}
# What MINIMAL stands for, as the dataclasses write it.
MINIMAL_SETTINGS = Settings(
    database_url="postgresql+psycopg://photos@db/photos",
    s3=S3Settings(bucket="photos"),
    user_service=UserServiceSettings(
        url="http://user-service:8000/",
        # Lookups run inside the 15 s request budget: 2 x (1 + 3) + 0.1 s at worst.
        calls=PeerPolicy(read_timeout_seconds=3.0, attempts=2),
    ),
)

SETTINGS: list[SettingsCase] = [
    *the_required_variables(MINIMAL, MINIMAL_SETTINGS),
    Reads(
        "its own settings are read from their variables",
        {
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
        },
        replace(
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
        ),
    ),
    Refuses({"SNAPPY_USER_SERVICE_URL": "user-service:8000"}, "SNAPPY_USER_SERVICE_URL must be an http"),
    # The budget must hold its S3 calls and lookups too: 4 x (1 + 3) + 0.7 s for a lookup, ...
    Refuses({"SNAPPY_PEER_ATTEMPTS": "4"}, "the longest a user-service lookup can take (16.7 s)"),
    # ... 4 x (1 + 3) + 7 s for an S3 call.
    Refuses({"SNAPPY_S3_MAX_ATTEMPTS": "4"}, "the longest an S3 call can take (23.0 s)"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.summary)
def test_settings(case: SettingsCase, tmp_path: Path) -> None:
    case.check(Settings.from_environ, MINIMAL, ConfigurationError, tmp_path)
