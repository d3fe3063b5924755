"""Health, readiness, metrics and configuration of the photo service."""

from __future__ import annotations

from dataclasses import replace

import pytest

from snappy_photo_service.config import ConfigurationError, Settings
from tests.photo_service.conftest import PhotoServiceClient, photo_service
from tests.support.openapi import assert_conforms

MINIMAL_ENVIRONMENT = {
    "SNAPPY_DATABASE_URL": "postgresql://photos@db/photos",
    "SNAPPY_S3_BUCKET": "photos",
    "SNAPPY_USER_SERVICE_URL": "http://user-service:8000/",
}


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


def test_settings_from_the_minimal_environment() -> None:
    settings = Settings.from_environ(MINIMAL_ENVIRONMENT)

    assert settings.database_url == "postgresql+psycopg://photos@db/photos"
    assert settings.jwks_url == "http://user-service:8000/.well-known/jwks.json"
    assert settings.user_service.cache_ttl_seconds == 600
    assert (settings.tokens.issuer, settings.tokens.audience) == ("snappy", "snappy-api")
    assert settings.limits.max_upload_bytes == 10 * 1024 * 1024


def test_settings_from_a_full_environment() -> None:
    settings = Settings.from_environ(
        {
            **MINIMAL_ENVIRONMENT,
            "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
            "SNAPPY_USER_CACHE_TTL_SECONDS": "30",
            "SNAPPY_USER_SERVICE_CONNECT_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_USER_SERVICE_READ_TIMEOUT_SECONDS": "2",
            "SNAPPY_USER_SERVICE_ATTEMPTS": "4",
            "SNAPPY_JWT_AUDIENCE": "other-api",
            "SNAPPY_MAX_PAGE_SIZE": "50",
        }
    )

    assert settings.jwks_url == "https://keys.example/jwks.json"
    assert settings.user_service.cache_ttl_seconds == 30
    assert settings.user_service.connect_timeout_seconds == 0.5
    assert settings.user_service.read_timeout_seconds == 2
    assert settings.user_service.attempts == 4
    assert settings.tokens.audience == "other-api"
    assert settings.limits.max_page_size == 50


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SNAPPY_USER_SERVICE_URL", ""),
        ("SNAPPY_USER_SERVICE_URL", "user-service:8000"),
        ("SNAPPY_JWKS_URL", "file:///etc/jwks.json"),
        ("SNAPPY_USER_CACHE_TTL_SECONDS", "0"),
        ("SNAPPY_USER_SERVICE_ATTEMPTS", "many"),
        ("SNAPPY_S3_BUCKET", ""),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**MINIMAL_ENVIRONMENT, name: value})
