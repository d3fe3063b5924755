"""Health, readiness, metrics, request ids and problem documents for what user-service does not serve."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from snappy_user_service import create_app
from snappy_user_service.config import Settings
from tests.support.api_client import ApiClient
from tests.support.openapi import assert_conforms


def test_healthz_answers_without_dependencies(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert_conforms(response)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert_conforms(response)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer(user_service_settings: Settings) -> None:
    broken = replace(user_service_settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    client = create_app(broken).test_client()

    response = client.get("/readyz")

    assert_conforms(response)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "database" in response.get_json()["detail"]


def test_metrics_count_requests_by_route_template_and_status(api: ApiClient, client: FlaskClient) -> None:
    token = api.user_with_token("alice")
    api.get("/api/v1/users/nobody", token)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'snappy_http_requests_total{method="GET",route="/api/v1/users/<username>",status="404"}' in text
    assert 'snappy_http_requests_total{method="POST",route="/api/v1/tokens",status="201"}' in text


def test_a_sane_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        # The photo resources are photo-service's; the edge never routes them here.
        "/api/v1/photos",
        "/api/v1/feed",
        "/api/v1/users/alice/photos",
    ],
)
def test_what_user_service_does_not_serve_is_a_404_problem(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/v1/users/me"), ("GET", "/api/v1/tokens")])
def test_a_wrong_method_is_405_with_allow(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "https://snappy.example/problems/method-not-allowed"
    assert "Allow" in response.headers
