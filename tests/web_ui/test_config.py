"""web-ui's settings: its own variables, its defaults, and what it refuses to start with.

How any variable is read (blank is unset, parse errors), and the sections every service
shares (log level, calls to peers, token checks), are plumbing's, tested once in
tests/plumbing/test_config.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from snappy_plumbing.peers import PeerPolicy
from snappy_web_ui.config import ConfigurationError, PeerSettings, Settings, TokenSettings
from tests.support.settings import Reads, Refuses, SettingsCase, the_required_variables

REQUIRED = {
    "SNAPPY_USER_SERVICE_URL": "http://user-service:8000",
    "SNAPPY_PHOTO_SERVICE_URL": "http://photo-service:8000",
    "SNAPPY_SECRET_KEY": "secret",
}
# What REQUIRED stands for, as the dataclasses write it.
REQUIRED_SETTINGS = Settings(
    peers=PeerSettings(
        user_service_url="http://user-service:8000",
        photo_service_url="http://photo-service:8000",
        # A page's read waits 5 s at most per attempt; a write 20 s, above the services' budget.
        calls=PeerPolicy(read_timeout_seconds=5.0, attempts=3),
        write_timeout_seconds=20.0,
    ),
    secret_key="secret",
)

SETTINGS: list[SettingsCase] = [
    *the_required_variables(REQUIRED, REQUIRED_SETTINGS),
    Reads(
        "its own settings are read from their variables",
        {
            "SNAPPY_PEER_ATTEMPTS": "2",
            "SNAPPY_PEER_WRITE_TIMEOUT_SECONDS": "25",
            "SNAPPY_USER_CACHE_TTL_SECONDS": "30",
            "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
            "SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "600",
            "SNAPPY_SESSION_COOKIE_SECURE": "true",
            "SNAPPY_MAX_UPLOAD_BYTES": "2048",
            "SNAPPY_DEFAULT_PAGE_SIZE": "5",
            "SNAPPY_TRUSTED_PROXY_HOPS": "1",
        },
        replace(
            REQUIRED_SETTINGS,
            peers=replace(
                REQUIRED_SETTINGS.peers,
                calls=PeerPolicy(read_timeout_seconds=5.0, attempts=2),
                write_timeout_seconds=25.0,
                user_cache_ttl_seconds=30.0,
            ),
            tokens=TokenSettings(jwks_url="https://keys.example/jwks.json", ttl_seconds=600),
            session_cookie_secure=True,
            max_upload_bytes=2048,
            page_size=5,
            trusted_proxy_hops=1,
        ),
    ),
    Refuses({"SNAPPY_PHOTO_SERVICE_URL": "photo-service:8000"}, "SNAPPY_PHOTO_SERVICE_URL must be an http"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.summary)
def test_settings(case: SettingsCase, tmp_path: Path) -> None:
    case.check(Settings.from_environ, REQUIRED, ConfigurationError, tmp_path)


def test_the_longest_call_is_a_write() -> None:
    peers = REQUIRED_SETTINGS.peers

    # A write: a connection, then 20 s for the answer; a read: 3 x (1 + 5) + 0.3 s.
    assert peers.longest_call_seconds() == 21.0
    assert peers.calls.read_worst_case_seconds() == pytest.approx(18.3)
