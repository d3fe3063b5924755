"""Health, readiness and metrics of the photo service (its settings: test_config.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from snappy_photo_service.config import Settings
from tests.photo_service.conftest import PhotoServiceClient, photo_service
from tests.support.openapi import assert_conforms


def test_healthz_answers_without_dependencies(api: PhotoServiceClient) -> None:
    response = api.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_when_database_and_bucket_answer(api: PhotoServiceClient) -> None:
    response = api.get("/readyz")

    assert response.status_code == 200


@pytest.mark.parametrize("broken", ["database", "object store", "token keys"])
def test_readyz_is_503_when_a_dependency_does_not_answer(photo_settings: Settings, broken: str) -> None:
    if broken == "database":
        settings = replace(photo_settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    elif broken == "object store":
        settings = replace(photo_settings, s3=replace(photo_settings.s3, bucket="no-such-bucket-here"))
    else:
        # Started before its token signer answers: it must not take traffic it cannot authenticate.
        settings = replace(
            photo_settings, tokens=replace(photo_settings.tokens, jwks_url="http://127.0.0.1:1/jwks")
        )

    with photo_service(settings) as app:
        response = app.test_client().get("/readyz")

    assert_conforms(response)
    assert response.status_code == 503
    assert broken in response.get_json()["detail"]


def test_metrics_count_requests_by_route_template(api: PhotoServiceClient) -> None:
    token = api.user_with_token("alice")
    api.get("/api/v1/photos/12345", token)

    text = api.client.get("/metrics").get_data(as_text=True)

    assert (
        'snappy_http_requests_total{method="GET",route="/api/v1/photos/<photo_id:photo_id>",status="404"}'
        in text
    )


def test_an_unknown_path_is_a_problem_document(api: PhotoServiceClient) -> None:
    response = api.client.get("/api/v1/users/alice")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
