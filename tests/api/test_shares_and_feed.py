"""Sharing a photo with another user, and the feed of photos shared with you."""

from __future__ import annotations

import pytest

from tests.images import image_bytes
from tests.support.api_client import ApiClient

PROBLEMS = "https://snappy.example/problems/"


@pytest.fixture
def alice(api: ApiClient) -> str:
    return api.user_with_token("alice")


@pytest.fixture
def bob(api: ApiClient) -> str:
    return api.user_with_token("bob")


def upload(api: ApiClient, token: str, caption: str = "") -> int:
    photo_id: int = api.upload(token, image_bytes(), caption=caption).get_json()["id"]
    return photo_id


def test_sharing_makes_a_private_photo_visible_to_that_user(api: ApiClient, alice: str, bob: str) -> None:
    photo_id = upload(api, alice)
    assert api.get(f"/api/v1/photos/{photo_id}", bob).status_code == 404

    response = api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})

    assert response.status_code == 201
    assert response.get_json()["username"] == "bob"
    assert response.headers["Location"] == f"/api/v1/photos/{photo_id}/shares/bob"
    seen_by_bob = api.get(f"/api/v1/photos/{photo_id}", bob)
    assert seen_by_bob.status_code == 200
    assert seen_by_bob.get_json()["owner"] == "alice"
    assert api.get(f"/api/v1/photos/{photo_id}/content", bob).status_code == 200
    assert api.get(f"/api/v1/photos/{photo_id}/thumbnail", bob).status_code == 200


def test_sharing_twice_is_a_conflict(api: ApiClient, alice: str, bob: str) -> None:
    photo_id = upload(api, alice)
    api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})

    response = api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})

    assert response.status_code == 409
    assert response.get_json()["type"] == PROBLEMS + "already-shared"


@pytest.mark.parametrize("username", ["nobody", "NOT_VALID", ""])
def test_sharing_with_an_unknown_user_names_the_problem(api: ApiClient, alice: str, username: str) -> None:
    photo_id = upload(api, alice)

    response = api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": username})

    assert response.status_code == 404
    assert response.get_json()["type"] == PROBLEMS + "user-not-found"


def test_sharing_with_yourself_is_invalid(api: ApiClient, alice: str) -> None:
    photo_id = upload(api, alice)

    response = api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "alice"})

    assert response.status_code == 422
    assert response.get_json()["type"] == PROBLEMS + "validation-failed"


@pytest.mark.parametrize("body", [{}, {"username": 3}, {"username": "bob", "extra": 1}])
def test_share_bodies_are_validated(api: ApiClient, alice: str, bob: str, body: dict[str, object]) -> None:
    photo_id = upload(api, alice)

    response = api.post(f"/api/v1/photos/{photo_id}/shares", alice, json=body)

    assert response.status_code == 422
    assert api.get(f"/api/v1/photos/{photo_id}/shares", alice).get_json()["items"] == []


def test_owner_lists_shares_newest_first_in_pages(api: ApiClient, alice: str, bob: str) -> None:
    api.sign_up("carol")
    photo_id = upload(api, alice)
    for username in ("bob", "carol"):
        api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": username})

    whole = api.get(f"/api/v1/photos/{photo_id}/shares", alice).get_json()
    first = api.get(f"/api/v1/photos/{photo_id}/shares?limit=1", alice).get_json()
    second = api.get(
        f"/api/v1/photos/{photo_id}/shares?limit=1&cursor={first['next_cursor']}", alice
    ).get_json()

    assert [share["username"] for share in whole["items"]] == ["carol", "bob"]
    assert whole["next_cursor"] is None
    assert [share["username"] for share in first["items"] + second["items"]] == ["carol", "bob"]
    assert second["next_cursor"] is None


def test_revoking_a_share_hides_the_photo_again(api: ApiClient, alice: str, bob: str) -> None:
    photo_id = upload(api, alice)
    api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})

    response = api.delete(f"/api/v1/photos/{photo_id}/shares/bob", alice)

    assert response.status_code == 204
    assert api.get(f"/api/v1/photos/{photo_id}", bob).status_code == 404
    assert api.get("/api/v1/feed", bob).get_json()["items"] == []


@pytest.mark.parametrize("username", ["bob", "nobody", "NOT_VALID"])
def test_revoking_a_share_that_does_not_exist_is_not_found(
    api: ApiClient, alice: str, bob: str, username: str
) -> None:
    photo_id = upload(api, alice)

    response = api.delete(f"/api/v1/photos/{photo_id}/shares/{username}", alice)

    assert response.status_code == 404
    assert response.get_json()["type"] == PROBLEMS + "not-found"


def test_the_feed_lists_photos_shared_with_me_most_recent_share_first(
    api: ApiClient, alice: str, bob: str
) -> None:
    older = upload(api, alice, "older")
    newer = upload(api, alice, "newer")
    not_shared = upload(api, alice, "mine only")
    api.post(f"/api/v1/photos/{newer}/shares", alice, json={"username": "bob"})
    api.post(f"/api/v1/photos/{older}/shares", alice, json={"username": "bob"})

    first = api.get("/api/v1/feed?limit=1", bob).get_json()
    second = api.get(f"/api/v1/feed?limit=1&cursor={first['next_cursor']}", bob).get_json()

    assert [item["id"] for item in first["items"] + second["items"]] == [older, newer]
    assert second["next_cursor"] is None
    assert not_shared not in [item["id"] for item in first["items"] + second["items"]]
    assert first["items"][0]["owner"] == "alice"


def test_public_photos_are_visible_to_everyone_but_not_in_their_feed(
    api: ApiClient, alice: str, bob: str
) -> None:
    photo_id = api.upload(alice, image_bytes(), visibility="public").get_json()["id"]

    response = api.get(f"/api/v1/photos/{photo_id}", bob)

    assert response.status_code == 200
    assert response.get_json()["owner"] == "alice"
    assert api.get("/api/v1/feed", bob).get_json()["items"] == []
