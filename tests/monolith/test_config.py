"""Configuration comes from the environment, with clear errors for bad values.

The monolith keeps its own reader; its cases are one table, as the services' are
(`tests.support.settings`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from snappy_monolith.config import ConfigurationError, Limits, S3Settings, Settings, TokenSettings
from tests.support.settings import Reads, Refuses, SettingsCase

MINIMAL = {"SNAPPY_DATABASE_URL": "postgresql://u@db:5432/snappy", "SNAPPY_S3_BUCKET": "photos"}
# What MINIMAL stands for; the defaults a deployment relies on most are written out.
MINIMAL_SETTINGS = Settings(
    database_url="postgresql+psycopg://u@db:5432/snappy",
    s3=S3Settings(bucket="photos", endpoint_url=None),
    limits=Limits(max_upload_bytes=10 * 1024 * 1024, max_page_size=100),
    tokens=TokenSettings(ttl_seconds=3600, private_key_pem=None),
)

SETTINGS: list[SettingsCase] = [
    Reads("defaults apply when only the required settings are given", {}, MINIMAL_SETTINGS),
    Reads(
        "every setting is read from its variable",
        {
            "SNAPPY_S3_ENDPOINT_URL": "https://ams3.digitaloceanspaces.com",
            "SNAPPY_S3_REGION": "ams3",
            "SNAPPY_MAX_UPLOAD_BYTES": "2048",
            "SNAPPY_MAX_IMAGE_PIXELS": "1000",
            "SNAPPY_MAX_CAPTION_LENGTH": "10",
            "SNAPPY_JWT_AUDIENCE": "aud",
            "SNAPPY_SESSION_COOKIE_SECURE": "true",
            "SNAPPY_LOG_LEVEL": "debug",
        },
        replace(
            MINIMAL_SETTINGS,
            s3=S3Settings(bucket="photos", endpoint_url="https://ams3.digitaloceanspaces.com", region="ams3"),
            limits=Limits(max_upload_bytes=2048, max_image_pixels=1000, max_caption_length=10),
            tokens=TokenSettings(audience="aud"),
            session_cookie_secure=True,
            log_level="DEBUG",
        ),
    ),
    Reads(
        "the signing key can come from a file",
        {},
        replace(MINIMAL_SETTINGS, tokens=TokenSettings(private_key_pem="-----BEGIN PRIVATE KEY-----\n...")),
        files={"SNAPPY_JWT_PRIVATE_KEY_FILE": "-----BEGIN PRIVATE KEY-----\n..."},
    ),
    Refuses({"SNAPPY_DATABASE_URL": ""}, "SNAPPY_DATABASE_URL is required"),
    Refuses({"SNAPPY_S3_BUCKET": " "}, "SNAPPY_S3_BUCKET is required"),
    Refuses({"SNAPPY_MAX_UPLOAD_BYTES": "ten"}, "SNAPPY_MAX_UPLOAD_BYTES must be a whole number"),
    Refuses({"SNAPPY_MAX_PAGE_SIZE": "0"}, "SNAPPY_MAX_PAGE_SIZE must be at least 1"),
    Refuses({"SNAPPY_SESSION_COOKIE_SECURE": "maybe"}, "SNAPPY_SESSION_COOKIE_SECURE must be true or false"),
    Refuses({"SNAPPY_JWT_PRIVATE_KEY_FILE": "/no/such/key.pem"}, "cannot read /no/such/key.pem"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.summary)
def test_settings(case: SettingsCase, tmp_path: Path) -> None:
    case.check(Settings.from_environ, MINIMAL, ConfigurationError, tmp_path)
