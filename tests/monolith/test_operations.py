"""The monolith's own operations: readiness without a dependency, JSON logs, the JWKS document.

What every part answers its operators is tested over both versions in tests/operations.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from snappy_monolith import create_app
from snappy_monolith.config import Settings
from snappy_monolith.observability import JsonLogFormatter
from tests.support.api_client import ApiClient


@pytest.mark.parametrize("broken", ["database", "object store"])
def test_readyz_is_503_when_a_dependency_does_not_answer(settings: Settings, broken: str) -> None:
    if broken == "database":
        broken_settings = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    else:
        broken_settings = replace(settings, s3=replace(settings.s3, bucket="no-such-bucket-here"))
    client = create_app(broken_settings).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert broken in response.get_json()["detail"]


def test_log_lines_are_json_with_the_request_id(app: Flask) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    request_logger = logging.getLogger("snappy_monolith.requests")
    previous_level = request_logger.level
    request_logger.addHandler(handler)
    request_logger.setLevel(logging.INFO)
    try:
        app.test_client().get("/api/v1/feed", headers={"X-Request-ID": "trace-me"})
    finally:
        request_logger.removeHandler(handler)
        request_logger.setLevel(previous_level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line.get("path") == "/api/v1/feed"]
    assert len(access) == 1
    assert access[0]["request_id"] == "trace-me"
    assert access[0]["status"] == 401
    assert access[0]["level"] == "info"


def test_jwks_publishes_the_key_that_verifies_issued_tokens(
    monolith_api: ApiClient, client: FlaskClient, settings: Settings
) -> None:
    token = monolith_api.user_with_token("alice")

    jwks = client.get("/.well-known/jwks.json").get_json()

    (key,) = jwks["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA"
    assert "d" not in key
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(token, public_key, algorithms=["EdDSA"], audience=settings.tokens.audience)
    assert claims["username"] == "alice"


def test_a_log_record_stays_on_one_line_whatever_it_contains() -> None:
    message = "path /a\u2028b\nc\x85d\u2029e"
    record = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "snappy.test"})

    line = JsonLogFormatter().format(record)

    assert line.isascii()
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == message
