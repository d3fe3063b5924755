"""The response validator in tests/support/openapi.py, and the public API document it reads."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from flask import Flask, Response
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode

from tests.support.openapi import (
    PUBLIC_CONTRACT_PATH,
    Contract,
    ContractViolation,
    assert_conforms,
    assert_httpx_conforms,
    load_public_contract,
)

PROBLEMS = "https://snappy.example/problems/"
PROBLEM_JSON = {"Content-Type": "application/problem+json"}
JSON = {"Content-Type": "application/json"}
USER = {
    "id": 7,
    "username": "alice",
    "display_name": "Alice",
    "created_at": "2024-05-01T12:30:00Z",
}
PHOTO = {
    "id": 12,
    "owner": "alice",
    "caption": "",
    "visibility": "private",
    "content_type": "image/jpeg",
    "width": 64,
    "height": 48,
    "size_bytes": 1234,
    "created_at": "2024-05-01T12:30:00.123456Z",
}


def problem(slug: str, status: int, **extra: Any) -> bytes:
    """A problem document of the given type as response bytes."""
    document = {"type": PROBLEMS + slug, "title": slug, "status": status, "detail": "x"}
    return json.dumps({**document, **extra}).encode()


def body(document: object) -> bytes:
    """A JSON document as response bytes."""
    return json.dumps(document).encode()


@pytest.fixture(scope="module")
def contract() -> Contract:
    """The public contract."""
    return load_public_contract()


def test_conforming_problem_passes(contract: Contract) -> None:
    contract.validate_response("GET", "/api/v1/photos/12", 404, PROBLEM_JSON, problem("not-found", 404))


def test_content_type_parameters_are_ignored(contract: Contract) -> None:
    headers = {"content-type": "application/problem+json; charset=utf-8"}
    contract.validate_response("GET", "/api/v1/photos/12", 404, headers, problem("not-found", 404))


def test_query_string_is_ignored(contract: Contract) -> None:
    page = body({"items": [PHOTO], "next_cursor": "abc"})
    contract.validate_response("GET", "/api/v1/photos?limit=1&cursor=xyz", 200, JSON, page)


def test_undocumented_status_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="status 418 is not documented"):
        contract.validate_response("GET", "/api/v1/photos/12", 418, PROBLEM_JSON, problem("not-found", 418))


def test_forbidden_is_never_documented_for_photos(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="status 403"):
        contract.validate_response("GET", "/api/v1/photos/12", 403, PROBLEM_JSON, problem("forbidden", 403))


def test_wrong_content_type_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="Content-Type 'application/json'"):
        contract.validate_response("GET", "/api/v1/photos/12", 404, JSON, problem("not-found", 404))


def test_missing_content_type_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="Content-Type header is missing"):
        contract.validate_response("GET", "/api/v1/photos/12", 404, {}, problem("not-found", 404))


def test_body_missing_a_required_field_raises(contract: Contract) -> None:
    incomplete = {key: value for key, value in USER.items() if key != "created_at"}
    with pytest.raises(ContractViolation, match="'created_at' is a required property"):
        contract.validate_response("GET", "/api/v1/users/alice", 200, JSON, body(incomplete))


def test_problem_missing_detail_raises(contract: Contract) -> None:
    document = {"type": PROBLEMS + "not-found", "title": "Not found", "status": 404}
    with pytest.raises(ContractViolation, match="'detail' is a required property"):
        contract.validate_response("GET", "/api/v1/photos/12", 404, PROBLEM_JSON, body(document))


def test_problem_type_must_match_the_status(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="breaks the application/problem\\+json schema"):
        contract.validate_response(
            "GET", "/api/v1/photos/12", 404, PROBLEM_JSON, problem("username-taken", 404)
        )


def test_body_that_is_not_json_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="not JSON"):
        contract.validate_response("GET", "/api/v1/users/me", 200, JSON, b"<html>")


def test_date_time_format_is_checked(contract: Contract) -> None:
    for created_at in ("yesterday", "2024-13-01T00:00:00Z", "2024-05-01T12:30:00+02:00"):
        user = body({**USER, "created_at": created_at})
        with pytest.raises(ContractViolation, match="created_at"):
            contract.validate_response("GET", "/api/v1/users/me", 200, JSON, user)


def test_users_me_wins_over_the_username_template(contract: Contract) -> None:
    assert contract.match_path("/api/v1/users/me") == "/api/v1/users/me"
    assert contract.match_path("/api/v1/users/bob") == "/api/v1/users/{username}"
    assert contract.match_path("/api/v1/users/me/photos") == "/api/v1/users/{username}/photos"
    operation = contract.find_operation("GET", "/api/v1/users/me")
    assert operation is not None
    assert operation.operation_id == "getCurrentUser"


def test_concrete_paths_match_their_templates(contract: Contract) -> None:
    assert contract.match_path("/api/v1/photos/12/shares/bob") == "/api/v1/photos/{id}/shares/{username}"
    assert contract.match_path("/api/v1/photos/12/shares?limit=5") == "/api/v1/photos/{id}/shares"
    assert contract.match_path("/.well-known/jwks.json") == "/.well-known/jwks.json"
    assert contract.match_path("/api/v1/photos/12/") is None
    assert contract.match_path("/api/v2/photos") is None


def test_undocumented_path_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="matches no path template"):
        contract.validate_response("GET", "/api/v1/albums", 404, PROBLEM_JSON, problem("not-found", 404))


def test_undocumented_method_raises(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match=re.escape("PUT is not documented for /api/v1/photos/{id}")):
        contract.validate_response("PUT", "/api/v1/photos/12", 200, JSON, body(PHOTO))


def test_no_content_with_a_body_raises(contract: Contract) -> None:
    contract.validate_response("DELETE", "/api/v1/photos/12/shares/bob", 204, {}, b"")
    with pytest.raises(ContractViolation, match="has a body"):
        contract.validate_response("DELETE", "/api/v1/photos/12", 204, JSON, b"{}")


def test_missing_location_on_created_raises(contract: Contract) -> None:
    headers = {**JSON, "Location": "/api/v1/users/alice"}
    contract.validate_response("POST", "/api/v1/users", 201, headers, body(USER))
    with pytest.raises(ContractViolation, match="required header Location is missing"):
        contract.validate_response("POST", "/api/v1/users", 201, JSON, body(USER))


def test_location_must_point_at_the_resource(contract: Contract) -> None:
    headers = {**JSON, "Location": "/api/v1/users/alice"}
    with pytest.raises(ContractViolation, match="header Location"):
        contract.validate_response("POST", "/api/v1/photos", 201, headers, body(PHOTO))


def test_missing_www_authenticate_on_401_raises(contract: Contract) -> None:
    unauthenticated = problem("authentication-required", 401)
    headers = {**PROBLEM_JSON, "WWW-Authenticate": 'Bearer error="invalid_token"'}
    contract.validate_response("GET", "/api/v1/feed", 401, headers, unauthenticated)
    with pytest.raises(ContractViolation, match="required header WWW-Authenticate is missing"):
        contract.validate_response("GET", "/api/v1/feed", 401, PROBLEM_JSON, unauthenticated)


def test_validation_problem_needs_its_errors(contract: Contract) -> None:
    errors = [{"field": "username", "message": "does not match ^[a-z0-9_]{3,32}$"}]
    failed = problem("validation-failed", 422, errors=errors)
    contract.validate_response("POST", "/api/v1/users", 422, PROBLEM_JSON, failed)
    with pytest.raises(ContractViolation, match="'errors' is a required property"):
        contract.validate_response(
            "POST", "/api/v1/users", 422, PROBLEM_JSON, problem("validation-failed", 422)
        )


def test_upload_rejections_take_their_documented_types(contract: Contract) -> None:
    for slug in ("invalid-image", "image-too-large"):
        contract.validate_response("POST", "/api/v1/photos", 422, PROBLEM_JSON, problem(slug, 422))
    with pytest.raises(ContractViolation):
        contract.validate_response(
            "POST", "/api/v1/photos", 422, PROBLEM_JSON, problem("unknown-username", 422)
        )


def test_binary_content_types(contract: Contract) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    contract.validate_response("GET", "/api/v1/photos/12/content", 200, {"Content-Type": "image/png"}, png)
    with pytest.raises(ContractViolation, match="'image/png' is not documented"):
        contract.validate_response(
            "GET", "/api/v1/photos/12/thumbnail", 200, {"Content-Type": "image/png"}, png
        )


def test_operational_endpoints(contract: Contract) -> None:
    contract.validate_response("GET", "/healthz", 200, JSON, body({"status": "ok"}))
    contract.validate_response("GET", "/readyz", 503, PROBLEM_JSON, problem("service-unavailable", 503))
    metrics = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    contract.validate_response("GET", "/metrics", 200, metrics, b"# HELP up\n")
    key = {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "kid": "k1", "alg": "EdDSA", "use": "sig"}
    contract.validate_response("GET", "/.well-known/jwks.json", 200, JSON, body({"keys": [key]}))
    bad = {"keys": [{**key, "alg": "RS256"}]}
    with pytest.raises(ContractViolation, match="alg"):
        contract.validate_response("GET", "/.well-known/jwks.json", 200, JSON, body(bad))


def test_assert_conforms_reads_a_flask_test_response() -> None:
    app = Flask(__name__)

    @app.get("/api/v1/users/<username>")
    def get_user(username: str) -> Response:
        if username == "alice":
            return Response(body(USER), 200, content_type="application/json")
        return Response(b"{}", 404, content_type="application/problem+json")

    client = app.test_client()
    assert_conforms(client.get("/api/v1/users/alice"))
    with pytest.raises(ContractViolation, match="GET /api/v1/users/bob -> 404"):
        assert_conforms(client.get("/api/v1/users/bob"))


def test_assert_httpx_conforms_reads_an_httpx_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/photos/12":
            return httpx.Response(200, json=PHOTO)
        return httpx.Response(200, json={"items": [], "next_cursor": 5})

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://snappy") as client:
        assert_httpx_conforms(client.get("/api/v1/photos/12"))
        with pytest.raises(ContractViolation, match="next_cursor"):
            assert_httpx_conforms(client.get("/api/v1/feed", params={"limit": 5}))


def test_document_is_valid_openapi() -> None:
    with PUBLIC_CONTRACT_PATH.open(encoding="utf-8") as stream:
        validate(yaml.safe_load(stream))


def test_every_authenticated_operation_documents_401(contract: Contract) -> None:
    default_security = contract.document.get("security", [])
    missing = [
        f"{operation.method.upper()} {operation.path}"
        for operation in contract.operations()
        if operation.definition.get("security", default_security)
        and "401" not in operation.definition.get("responses", {})
    ]
    assert missing == []


def test_only_sign_up_log_in_and_operations_are_public(contract: Contract) -> None:
    public = {
        f"{operation.method.upper()} {operation.path}"
        for operation in contract.operations()
        if operation.definition.get("security") == []
    }
    assert public == {
        "POST /api/v1/users",
        "POST /api/v1/tokens",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /.well-known/jwks.json",
    }


def test_operation_ids_are_unique(contract: Contract) -> None:
    ids = [operation.operation_id for operation in contract.operations()]
    assert None not in ids
    assert len(ids) == len(set(ids))


def test_every_error_response_is_a_problem(contract: Contract) -> None:
    for operation in contract.operations():
        for status, raw in operation.definition["responses"].items():
            if int(status) < 400:
                continue
            response, _ = contract.resolve(raw, operation.pointer)
            assert list(response["content"]) == ["application/problem+json"], (
                f"{operation.method.upper()} {operation.path} {status}"
            )


def test_schemathesis_generates_requests_for_every_operation() -> None:
    schema = schemathesis.openapi.from_path(str(PUBLIC_CONTRACT_PATH))
    strategies = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"Schemathesis cannot load an operation: {result.err()}")
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        # An operation without parameters or body has nothing to get wrong.
        if operation.path_parameters or operation.query or operation.body:
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(
        max_examples=3,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def draw_from_every_strategy(data: st.DataObject) -> None:
        for strategy in strategies:
            data.draw(strategy)

    draw_from_every_strategy()
    assert len(list(schema.get_all_operations())) == len(list(load_public_contract().operations()))
