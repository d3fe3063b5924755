"""Sign up, log in and profiles, through the JSON API."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.bodies import not_a_json_object
from tests.support.stores import execute_sql
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"


def users_database_url(stack: StackUnderTest, request: pytest.FixtureRequest) -> str:
    """The database that holds the stack's users: the monolith's own, or user-service's."""
    if stack.name == "microservices":
        url: str = request.getfixturevalue("live_microservices").user_database_url
        return url
    return stack.photo_database_url


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


def test_sign_up_over_the_request_limit_is_payload_too_large(api: ApiClient) -> None:
    padding = "x" * (11 * 1024 * 1024)

    response = api.post("/api/v1/users", json={"username": "alice", "password": padding, "display_name": "A"})

    assert response.status_code == 413
    assert response.get_json()["type"] == PROBLEMS + "payload-too-large"


def test_two_sign_ups_with_one_username_make_one_user(stack: StackUnderTest) -> None:
    body = {"username": "alice", "password": "correct-horse", "display_name": "Alice"}

    def sign_up() -> int:
        status: int = ApiClient(stack.make_client()).post("/api/v1/users", json=body).status_code
        return status

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(lambda _: sign_up(), range(4)))

    assert statuses == [201, 409, 409, 409]


def test_sign_up_writes_nothing_when_it_fails(api: ApiClient) -> None:
    api.post("/api/v1/users", json={"username": "alice", "password": "short", "display_name": "A"})

    assert api.post("/api/v1/tokens", json={"username": "alice", "password": "short"}).status_code == 401


@pytest.mark.parametrize(("data", "content_type", "status", "slug"), not_a_json_object("username=alice"))
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


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice"},
        {"username": "", "password": "correct-horse"},
        {"username": "alice", "password": "x" * 257},
    ],
    ids=["missing password", "empty username", "password too long"],
)
def test_log_in_with_a_missing_or_misshapen_credential_is_a_validation_error(
    api: ApiClient, body: dict[str, str]
) -> None:
    response = api.post("/api/v1/tokens", json=body)

    assert response.status_code == 422
    assert response.get_json()["type"] == PROBLEMS + "validation-failed"


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


@pytest.mark.parametrize("username", ["nobody", "x", "%C3%A9", "ALICE", "NOT_VALID"])
def test_an_unknown_user_is_not_found(api: ApiClient, username: str) -> None:
    token = api.user_with_token("bob")

    profile = api.get(f"/api/v1/users/{username}", token)
    photos = api.get(f"/api/v1/users/{username}/photos", token)

    for response in (profile, photos):
        assert response.status_code == 404
        assert response.get_json()["type"] == PROBLEMS + "not-found"


def test_a_problem_instance_is_the_path_percent_encoded(api: ApiClient) -> None:
    # The path as sent, not decoded: decoded, it is no URI reference once it holds spaces,
    # `<` or non-ASCII characters.
    token = api.user_with_token("alice")
    path = "/api/v1/users/%C3%A9%3Cb%3E%20%25x"

    response = api.get(path, token)

    assert response.status_code == 404
    assert response.get_json()["instance"] == path


def test_a_token_whose_user_is_gone_is_unauthorized(
    api: ApiClient, stack: StackUnderTest, request: pytest.FixtureRequest
) -> None:
    token = api.user_with_token("alice")
    execute_sql(users_database_url(stack, request), "DELETE FROM users WHERE username = 'alice'")

    response = api.get("/api/v1/users/me", token)

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
