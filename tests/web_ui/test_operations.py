"""web-ui's configuration from the environment, readiness and health (gunicorn: tests/deployment)."""

from __future__ import annotations

import pytest
from flask import Flask

from snappy_web_ui.config import ConfigurationError, Settings
from tests.support.live import LiveMicroservices
from tests.support.web_ui import build_web_ui, web_ui_settings

REQUIRED = {
    "SNAPPY_USER_SERVICE_URL": "http://user-service:8000",
    "SNAPPY_PHOTO_SERVICE_URL": "http://photo-service:8000",
    "SNAPPY_SECRET_KEY": "secret",
}


def test_settings_defaults() -> None:
    settings = Settings.from_environ(REQUIRED)

    assert settings.jwks_url == "http://user-service:8000/.well-known/jwks.json"
    assert settings.peers.connect_timeout_seconds == 1.0
    assert settings.peers.read_timeout_seconds == 5.0
    assert settings.tokens.ttl_seconds == 3600
    assert settings.session_cookie_secure is False


def test_settings_from_the_environment() -> None:
    settings = Settings.from_environ(
        {
            **REQUIRED,
            "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
            "SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_PEER_READ_TIMEOUT_SECONDS": "2",
            "SNAPPY_ACCESS_TOKEN_TTL_SECONDS": "600",
            "SNAPPY_SESSION_COOKIE_SECURE": "true",
        }
    )

    assert settings.jwks_url == "https://keys.example/jwks.json"
    assert settings.peers.connect_timeout_seconds == 0.5
    assert settings.peers.read_timeout_seconds == 2.0
    assert settings.tokens.ttl_seconds == 600
    assert settings.session_cookie_secure is True


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_required_settings(missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_environ({name: value for name, value in REQUIRED.items() if name != missing})


def test_a_service_url_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="SNAPPY_PHOTO_SERVICE_URL"):
        Settings.from_environ({**REQUIRED, "SNAPPY_PHOTO_SERVICE_URL": "photo-service:8000"})


def test_web_ui_is_not_ready_without_the_token_signers_keys(
    live_microservices: LiveMicroservices,
) -> None:
    """No signed-in page can work without them; once had, peers being down keeps it ready."""
    app = build_web_ui(web_ui_settings("http://127.0.0.1:1", live_microservices.photo_service_url, "secret"))

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert "signing keys" in response.get_json()["detail"]


def test_health_endpoints(web_ui: Flask) -> None:
    client = web_ui.test_client()

    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "snappy_http_requests" in metrics.get_data(as_text=True)
