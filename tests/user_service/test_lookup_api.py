"""The internal lookup other services use: users by id and by username, in one batch."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.support.api_client import ApiClient
from tests.support.bodies import not_a_json_object
from tests.user_service.conftest import INTERNAL_CONTRACT_PATH, LOOKUP_PATH, InternalClient

PROBLEMS = "https://snappy.example/problems/"


@pytest.fixture
def people(api: ApiClient) -> dict[str, dict[str, Any]]:
    """Three users, by username, as the public API shows them."""
    return {name: api.sign_up(name) for name in ("alice", "bob", "carol")}


def test_the_internal_contract_is_a_valid_openapi_document() -> None:
    with INTERNAL_CONTRACT_PATH.open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)

    validate(document)

    assert document["openapi"].startswith("3.1")
    assert document["paths"][LOOKUP_PATH]["post"]["operationId"] == "lookUpUsers"


def test_users_are_found_by_id_as_their_public_profiles(
    internal: InternalClient, people: dict[str, dict[str, Any]]
) -> None:
    response = internal.look_up({"ids": [people["carol"]["id"], people["alice"]["id"]]})

    assert response.status_code == 200
    assert response.get_json() == {"users": [people["alice"], people["carol"]]}


def test_users_are_found_by_username(internal: InternalClient, people: dict[str, dict[str, Any]]) -> None:
    response = internal.look_up({"usernames": ["bob", "carol"]})

    assert response.status_code == 200
    assert response.get_json()["users"] == [people["bob"], people["carol"]]


def test_ids_and_usernames_combine_and_each_user_comes_once(
    internal: InternalClient, people: dict[str, dict[str, Any]]
) -> None:
    alice_id = people["alice"]["id"]

    response = internal.look_up({"ids": [alice_id, alice_id], "usernames": ["alice", "bob", "bob"]})

    assert response.get_json()["users"] == [people["alice"], people["bob"]]


def test_unknown_ids_and_usernames_are_simply_absent(
    internal: InternalClient, people: dict[str, dict[str, Any]]
) -> None:
    response = internal.look_up(
        {"ids": [999_999, 2**63 - 1], "usernames": ["nobody", "ALICE", "", "a" * 1000, "bob"]}
    )

    assert response.status_code == 200
    assert response.get_json()["users"] == [people["bob"]]


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"usernames": []}, {"ids": [], "usernames": []}])
def test_an_empty_lookup_finds_nobody(
    internal: InternalClient, people: dict[str, dict[str, Any]], body: dict[str, Any]
) -> None:
    response = internal.look_up(body)

    assert response.status_code == 200
    assert response.get_json() == {"users": []}


def test_a_lookup_never_tells_password_hashes(
    internal: InternalClient, people: dict[str, dict[str, Any]]
) -> None:
    response = internal.look_up({"usernames": ["alice"]})

    (user,) = response.get_json()["users"]
    assert set(user) == {"id", "username", "display_name", "created_at"}
    assert "argon2" not in response.get_data(as_text=True)


def test_500_entries_are_allowed(internal: InternalClient, people: dict[str, dict[str, Any]]) -> None:
    response = internal.look_up({"ids": list(range(1, 301)), "usernames": ["alice"] * 200})

    assert response.status_code == 200
    assert [user["username"] for user in response.get_json()["users"]] == ["alice", "bob", "carol"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"ids": list(range(1, 502))}, ["ids"]),
        ({"usernames": ["alice"] * 501}, ["usernames"]),
        ({"ids": list(range(1, 301)), "usernames": ["alice"] * 201}, ["ids", "usernames"]),
    ],
)
def test_more_than_500_entries_is_a_validation_error(
    internal: InternalClient, body: dict[str, Any], fields: list[str]
) -> None:
    response = internal.look_up(body)

    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert [error["field"] for error in problem["errors"]] == fields


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": "1"}, "ids"),
        ({"ids": None}, "ids"),
        ({"ids": [1.5]}, "ids"),
        ({"ids": ["1"]}, "ids"),
        ({"ids": [True]}, "ids"),
        ({"ids": [0]}, "ids"),
        ({"ids": [-1]}, "ids"),
        ({"ids": [2**63]}, "ids"),
        ({"usernames": "alice"}, "usernames"),
        ({"usernames": [1]}, "usernames"),
        ({"usernames": [None]}, "usernames"),
        ({"emails": ["alice@example.com"]}, "emails"),
    ],
)
def test_a_lookup_of_the_wrong_shape_is_a_validation_error(
    internal: InternalClient, body: dict[str, Any], field: str
) -> None:
    response = internal.look_up(body)

    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert field in [error["field"] for error in problem["errors"]]


@pytest.mark.parametrize(("data", "content_type", "status", "slug"), not_a_json_object("ids=1"))
def test_a_lookup_that_is_not_a_json_object_is_refused(
    internal: InternalClient, data: str, content_type: str, status: int, slug: str
) -> None:
    response = internal.post(LOOKUP_PATH, data=data, content_type=content_type)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == PROBLEMS + slug


def test_a_lookup_needs_no_token_and_takes_only_post(client: FlaskClient) -> None:
    assert client.post(LOOKUP_PATH, json={}).status_code == 200

    response = client.get(LOOKUP_PATH)

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "POST" in response.headers["Allow"]
