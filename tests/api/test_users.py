"""Sign up, log in and profiles, through the JSON API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient

PROBLEMS = "https://snappy.example/problems/"


def test_sign_up_creates_a_user_and_points_to_it(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/users", json={"username": "alice", "password": "correct-horse", "display_name": "Alice"}
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["username"] == "alice"
    assert body["display_name"] == "Alice"
    assert isinstance(body["id"], int)
    assert response.headers["Location"] == "/api/v1/users/alice"
    assert "password" not in response.get_data(as_text=True)


def test_sign_up_with_a_taken_username_is_a_conflict(api: ApiClient) -> None:
    api.sign_up("alice")

    response = api.post(
        "/api/v1/users", json={"username": "alice", "password": "another-one", "display_name": "A"}
    )

    assert response.status_code == 409
    assert response.get_json()["type"] == PROBLEMS + "username-taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "Al", "password": "long-enough", "display_name": "A"}, "username"),
        ({"username": "UPPER", "password": "long-enough", "display_name": "A"}, "username"),
        ({"username": "a" * 33, "password": "long-enough", "display_name": "A"}, "username"),
        ({"username": "alice", "password": "short", "display_name": "A"}, "password"),
        ({"username": "alice", "password": "x" * 257, "display_name": "A"}, "password"),
        ({"username": "alice", "password": "long-enough", "display_name": ""}, "display_name"),
        ({"username": "alice", "password": "long-enough", "display_name": "x" * 65}, "display_name"),
        ({"username": "alice", "password": "long-enough", "display_name": "bad\u0000name"}, "display_name"),
        ({"username": "alice", "password": "long-enough"}, "display_name"),
        ({"username": "alice", "password": "long-enough", "display_name": "A", "admin": True}, "admin"),
        ({"username": 7, "password": "long-enough", "display_name": "A"}, "username"),
    ],
)
def test_sign_up_rejects_each_broken_rule_with_the_field_named(
    api: ApiClient, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/users", json=body)

    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert field in [error["field"] for error in problem["errors"]]


def test_sign_up_writes_nothing_when_it_fails(api: ApiClient) -> None:
    api.post("/api/v1/users", json={"username": "alice", "password": "short", "display_name": "A"})

    assert api.post("/api/v1/tokens", json={"username": "alice", "password": "short"}).status_code == 401


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug"),
    [
        ("{not json", "application/json", 400, "malformed-request"),
        ("[1, 2]", "application/json", 400, "malformed-request"),
        ("username=alice", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        ("", "text/plain", 415, "unsupported-media-type"),
    ],
)
def test_sign_up_rejects_bodies_that_are_not_a_json_object(
    api: ApiClient, data: str, content_type: str, status: int, slug: str
) -> None:
    response = api.post("/api/v1/users", data=data, content_type=content_type)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == PROBLEMS + slug


def test_log_in_returns_a_bearer_token(api: ApiClient) -> None:
    api.sign_up("alice")

    response = api.post("/api/v1/tokens", json={"username": "alice", "password": "correct-horse"})

    assert response.status_code == 201
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", "correct-horse"), ("ALICE", "correct-horse")],
)
def test_log_in_with_bad_credentials_is_unauthorized(api: ApiClient, username: str, password: str) -> None:
    api.sign_up("alice")

    response = api.post("/api/v1/tokens", json={"username": username, "password": password})

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "invalid-credentials"


def test_log_in_without_a_password_is_a_validation_error(api: ApiClient) -> None:
    response = api.post("/api/v1/tokens", json={"username": "alice"})

    assert response.status_code == 422


def test_me_is_the_callers_profile(api: ApiClient) -> None:
    created = api.sign_up("alice", display_name="Alice A.")
    token = api.log_in("alice")

    response = api.get("/api/v1/users/me", token)

    assert response.status_code == 200
    assert response.get_json() == created


def test_a_users_public_profile_is_visible_to_others(api: ApiClient) -> None:
    created = api.sign_up("alice")
    token = api.user_with_token("bob")

    response = api.get("/api/v1/users/alice", token)

    assert response.status_code == 200
    assert response.get_json() == created


@pytest.mark.parametrize("username", ["nobody", "x", "%00", "ALICE"])
def test_an_unknown_user_is_not_found(api: ApiClient, username: str) -> None:
    token = api.user_with_token("bob")

    response = api.get(f"/api/v1/users/{username}", token)

    assert response.status_code == 404
    assert response.get_json()["type"] == PROBLEMS + "not-found"
