"""JSON bodies that are malformed, hostile or merely unusual get a precise 4xx problem document.

Every case runs against both versions (the `api` fixture) and through each operation that
takes a JSON body, and each names the problem type and what the detail must point at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.images import image_bytes
from tests.support.api_client import ApiClient

PROBLEMS = "https://snappy.example/problems/"
MALFORMED = PROBLEMS + "malformed-request"
UNSUPPORTED = PROBLEMS + "unsupported-media-type"
TOO_LARGE = PROBLEMS + "payload-too-large"
JSON = "application/json"
# The documented bound on nesting (MAX_JSON_DEPTH in both versions).
MAX_DEPTH = 32
MAX_JSON_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class HostileBody:
    """A raw body, the Content-Type it is sent with, and the answer it must get."""

    body: bytes
    status: int
    problem_type: str
    detail_contains: str
    content_type: str = JSON


def nested(depth: int) -> bytes:
    """A sign-up body whose display_name is `depth` levels of arrays deep (depth 1 = the object)."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return ('{"username": "nested", "password": "long enough", "display_name": ' + inner + "}").encode()


HOSTILE_BODIES: dict[str, HostileBody] = {
    "duplicate key": HostileBody(
        b'{"username": "mallory", "password": "long enough", "display_name": "M", "username": "admin"}',
        400,
        MALFORMED,
        '"username" more than once',
    ),
    "duplicate key in a nested object": HostileBody(
        b'{"username": "mallory", "password": "pw", "display_name": {"a": 1, "a": 2}}',
        400,
        MALFORMED,
        '"a" more than once',
    ),
    "nesting one level too deep": HostileBody(nested(MAX_DEPTH + 1), 400, MALFORMED, "nested more than 32"),
    "nesting 30000 levels deep": HostileBody(
        b"[" * 30_000 + b"]" * 30_000, 400, MALFORMED, "nested more than 32"
    ),
    "unclosed nesting 10000 levels deep": HostileBody(
        b'{"a":' * 10_000, 400, MALFORMED, "nested more than 32"
    ),
    "array at the top level": HostileBody(b'["username", "password"]', 400, MALFORMED, "not an array"),
    "string at the top level": HostileBody(b'"alice"', 400, MALFORMED, "not a string"),
    "null at the top level": HostileBody(b"null", 400, MALFORMED, "not null"),
    "number at the top level": HostileBody(b"12", 400, MALFORMED, "not a number"),
    "invalid UTF-8": HostileBody(
        b'{"username": "caf\xe9", "password": "long enough", "display_name": "x"}',
        400,
        MALFORMED,
        "not valid UTF-8",
    ),
    "UTF-16": HostileBody('{"username": "alice"}'.encode("utf-16"), 400, MALFORMED, "not valid UTF-8"),
    "byte order mark": HostileBody(
        b'\xef\xbb\xbf{"username": "alice", "password": "long enough", "display_name": "A"}',
        400,
        MALFORMED,
        "byte order mark",
    ),
    "lone high surrogate in a value": HostileBody(
        b'{"username": "alice", "password": "long enough", "display_name": "x\\ud800y"}',
        400,
        MALFORMED,
        'surrogate escape (\\ud800-\\udfff) in "display_name"',
    ),
    "lone low surrogate in a key": HostileBody(
        b'{"username": "alice", "password": "long enough", "display_name": "A", "\\udc00": 1}',
        400,
        MALFORMED,
        'in the key "\\udc00"',
    ),
    "lone surrogate deep in an array": HostileBody(
        b'{"username": "alice", "password": "long enough", "display_name": ["ok", ["\\udfff"]]}',
        400,
        MALFORMED,
        '"display_name[1][0]"',
    ),
    "NaN": HostileBody(b'{"username": NaN}', 400, MALFORMED, "NaN"),
    "Infinity": HostileBody(b'{"username": Infinity}', 400, MALFORMED, "Infinity"),
    "-Infinity": HostileBody(b'{"username": -Infinity}', 400, MALFORMED, "-Infinity"),
    "integer with 5000 digits": HostileBody(
        b'{"username": ' + b"9" * 5000 + b"}", 400, MALFORMED, "number longer"
    ),
    "float beyond range": HostileBody(b'{"username": 1e400}', 400, MALFORMED, "out of range"),
    "empty body": HostileBody(b"", 400, MALFORMED, "empty"),
    "whitespace only": HostileBody(b" \r\n\t ", 400, MALFORMED, "empty"),
    "trailing garbage": HostileBody(b'{"username": "alice"} {}', 400, MALFORMED, "Extra data"),
    "single quotes": HostileBody(b"{'username': 'alice'}", 400, MALFORMED, "not valid JSON"),
    "body over 64 KiB": HostileBody(
        b'{"username": "' + b"a" * MAX_JSON_BODY_BYTES + b'"}', 413, TOO_LARGE, "at most 65536 bytes"
    ),
    "text/plain": HostileBody(b'{"username": "alice"}', 415, UNSUPPORTED, "application/json", "text/plain"),
    "form-encoded": HostileBody(
        b"username=alice", 415, UNSUPPORTED, "application/json", "application/x-www-form-urlencoded"
    ),
    "JSON in Latin-1": HostileBody(
        b'{"username": "alice"}', 415, UNSUPPORTED, "UTF-8", "application/json; charset=iso-8859-1"
    ),
    "JSON look-alike type": HostileBody(
        b'{"username": "alice"}', 415, UNSUPPORTED, "application/json", "text/json"
    ),
}


def assert_problem(response: Any, status: int, problem_type: str, detail_contains: str) -> None:
    """A problem document of this status and type whose detail says what was wrong."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == problem_type
    assert problem["status"] == status
    assert detail_contains in problem["detail"], problem["detail"]


Operations = dict[str, tuple[str, str, str | None]]


@pytest.fixture
def json_operations(api: ApiClient) -> Operations:
    """Each operation that takes a JSON body: method, path and the token it needs."""
    token = api.user_with_token("owner")
    api.sign_up("friend")
    upload = api.upload(token, image_bytes("JPEG"))
    assert upload.status_code == 201
    photo_id = upload.get_json()["id"]
    return {
        "createUser": ("POST", "/api/v1/users", None),
        "createToken": ("POST", "/api/v1/tokens", None),
        "updatePhoto": ("PATCH", f"/api/v1/photos/{photo_id}", token),
        "createShare": ("POST", f"/api/v1/photos/{photo_id}/shares", token),
    }


@pytest.mark.parametrize("case_name", list(HOSTILE_BODIES))
def test_a_hostile_json_body_gets_a_precise_problem_from_every_json_operation(
    api: ApiClient, json_operations: Operations, case_name: str
) -> None:
    case = HOSTILE_BODIES[case_name]

    for method, path, token in json_operations.values():
        response = api.request(method, path, token, data=case.body, content_type=case.content_type)

        assert_problem(response, case.status, case.problem_type, case.detail_contains)


def test_nesting_up_to_the_bound_is_parsed_and_judged_by_the_field_rules(api: ApiClient) -> None:
    response = api.post("/api/v1/users", data=nested(MAX_DEPTH), content_type=JSON)

    # Parsed: the field rules see an array where a string belongs.
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert {"field": "display_name", "message": "must be a string"} in problem["errors"]


def test_a_duplicate_key_creates_nothing(api: ApiClient) -> None:
    body = b'{"username": "mallory", "password": "long enough", "display_name": "M", "username": "admin"}'

    response = api.post("/api/v1/users", data=body, content_type=JSON)

    assert response.status_code == 400
    for username in ("mallory", "admin"):
        token = api.post("/api/v1/tokens", json={"username": username, "password": "long enough"})
        assert token.status_code == 401


def test_escaped_surrogate_pairs_and_brackets_in_strings_are_ordinary_text(api: ApiClient) -> None:
    # A correctly paired escape is one character, and brackets inside strings are no nesting.
    body = (
        b'{"username": "emoji", "password": "long enough", "display_name": "\\ud83d\\udcf7 '
        + b"[" * 50
        + b'"}'
    )

    response = api.post("/api/v1/users", data=body, content_type=JSON)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["display_name"] == "\N{CAMERA} " + "[" * 50


def test_json_with_an_explicit_utf8_charset_is_accepted(api: ApiClient) -> None:
    body = b'{"username": "charset", "password": "long enough", "display_name": "Caf\xc3\xa9"}'

    response = api.post("/api/v1/users", data=body, content_type="application/json; charset=UTF-8")

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["display_name"] == "Café"
