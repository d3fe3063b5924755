"""photo-service's readiness without a dependency, and the problem document for another part's path.

Its settings: test_config.py; what every part answers its operators: tests/operations.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from snappy_photo_service.config import Settings
from tests.photo_service.conftest import PhotoServiceClient, photo_service
from tests.support.openapi import assert_conforms


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


def test_an_unknown_path_is_a_problem_document(api: PhotoServiceClient) -> None:
    response = api.client.get("/api/v1/users/alice")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
