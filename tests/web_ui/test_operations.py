"""web-ui's readiness without the token signer's keys.

Its settings: test_config.py; under gunicorn: tests/deployment; what every part answers its
operators: tests/operations.
"""

from __future__ import annotations

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
