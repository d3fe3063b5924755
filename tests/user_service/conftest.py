"""user-service in-process on its own migrated database, with contract-checking clients.

The fixtures `api` and `client` override the monolith's of the same names for the tests
in this folder: they speak to user-service, and `api` still checks every response against
the public contract, since user-service serves its part of it unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

from snappy_devstack.backing import BackingServices
from snappy_plumbing.tokens import generate_private_key_pem
from snappy_user_service import create_app
from snappy_user_service.__main__ import alembic_config
from snappy_user_service.config import Settings, TokenSettings
from tests.support.api_client import ApiClient
from tests.support.openapi import Contract
from tests.support.provisioning import migrated_database
from tests.support.session import REPOSITORY_ROOT, SESSION_TAG

INTERNAL_CONTRACT_PATH = REPOSITORY_ROOT / "shared_contracts" / "user-service-internal.openapi.yaml"
LOOKUP_PATH = "/internal/v1/users/lookup"


@pytest.fixture(scope="session")
def user_service_database(backing: BackingServices) -> Iterator[str]:
    """The in-process user-service's database, migrated, for the whole session."""
    with migrated_database(backing, f"snappy_user_service_{SESSION_TAG}", alembic_config) as url:
        yield url


@pytest.fixture(scope="session")
def user_service_settings(user_service_database: str) -> Settings:
    """Settings for user-service on that database, with a fresh signing key."""
    return Settings(
        database_url=user_service_database,
        tokens=TokenSettings(private_key_pem=generate_private_key_pem()),
    )


@pytest.fixture(scope="session")
def built_user_service(user_service_settings: Settings) -> Flask:
    """user-service, built once for the session."""
    app = create_app(user_service_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def user_service(built_user_service: Flask, user_service_database: str) -> Flask:
    """user-service with an empty users table."""
    engine = create_engine(user_service_database)
    with engine.begin() as connection:
        # The log-in throttle's counts too: one test's failed log-ins must not block the next's.
        connection.execute(text("TRUNCATE users, login_throttle RESTART IDENTITY"))
    engine.dispose()
    return built_user_service


@pytest.fixture
def client(user_service: Flask) -> FlaskClient:
    """A raw test client (no contract check), for deliberately odd requests."""
    return user_service.test_client()


@pytest.fixture
def api(user_service: Flask) -> ApiClient:
    """A client checking every response against the public contract."""
    return ApiClient(user_service.test_client())


@functools.cache
def load_internal_contract() -> Contract:
    """user-service's internal API contract, read once from shared_contracts/."""
    with INTERNAL_CONTRACT_PATH.open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    assert isinstance(document, dict)
    return Contract(document)


class InternalClient:
    """The Flask test client, checking every response against the internal contract."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        """Send a POST and validate the response against the internal OpenAPI document."""
        response = self.client.post(path, **kwargs)
        load_internal_contract().validate_response(
            "POST", path, response.status_code, dict(response.headers.items()), response.get_data()
        )
        return response

    def look_up(self, body: object) -> TestResponse:
        """Look users up with this JSON body."""
        return self.post(LOOKUP_PATH, json=body)


@pytest.fixture
def internal(user_service: Flask) -> InternalClient:
    """A client of the internal API, checking the internal contract."""
    return InternalClient(user_service.test_client())
