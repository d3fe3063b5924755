"""web-ui's readiness and health (its settings: test_config.py; gunicorn: tests/deployment)."""

from __future__ import annotations

from flask import Flask

from tests.support.live import LiveMicroservices
from tests.support.web_ui import build_web_ui, web_ui_settings


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
