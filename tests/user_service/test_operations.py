"""user-service's readiness without its database, and problem documents for what it does not serve.

What every part answers its operators is tested over both versions in tests/operations.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from snappy_user_service import create_app
from snappy_user_service.config import Settings
from tests.support.openapi import assert_conforms


def test_readyz_is_503_when_the_database_does_not_answer(user_service_settings: Settings) -> None:
    broken = replace(user_service_settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    client = create_app(broken).test_client()

    response = client.get("/readyz")

    assert_conforms(response)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "database" in response.get_json()["detail"]


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
