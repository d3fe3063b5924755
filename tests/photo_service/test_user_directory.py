"""What the photo service asks user-service: in batches, cached, retried, and without it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from snappy_photo_service.config import Settings, UserServiceSettings
from snappy_photo_service.user_directory import MAX_LOOKUP_ENTRIES, UserDirectory
from snappy_plumbing.errors import ServiceUnavailable
from tests.images import image_bytes
from tests.photo_service.conftest import (
    PROBLEMS,
    LookupRecorder,
    PhotoResources,
    PhotoServiceClient,
    RunningServer,
    UserService,
    photo_service,
    serve,
    user_service_app,
    with_user_service,
)
from tests.support.openapi import assert_conforms
from tests.support.scripted_peer import ScriptedPeer
from tests.support.stores import execute_sql, fetch_rows

ALICE_ID = 7
ALICE = {"id": ALICE_ID, "username": "alice", "created_at": "2024-05-01T10:00:00.123456+00:00"}


def upload(api: PhotoServiceClient, token: str, visibility: str = "private") -> int:
    photo_id: int = api.upload(token, image_bytes(size=(8, 8)), visibility=visibility).get_json()["id"]
    return photo_id


def share(api: PhotoServiceClient, token: str, photo_id: int, username: str) -> None:
    response = api.post(f"/api/v1/photos/{photo_id}/shares", token, json={"username": username})
    assert response.status_code == 201


@contextmanager
def fresh_service_knowing(
    photo_settings: Settings, user_service: UserService, *callers: str
) -> Iterator[PhotoServiceClient]:
    """Another photo service on the same data, with an empty cache but for these callers' accounts.

    Every caller's account is looked up once, to check their token; after that, what a
    test counts are the lookups its requests need besides.
    """
    with photo_service(photo_settings) as app:
        fresh = PhotoServiceClient(app.test_client(), user_service.url)
        for token in callers:
            assert fresh.get("/api/v1/photos", token).status_code == 200
        user_service.recorder.clear()
        yield fresh


def test_a_callers_account_is_looked_up_once_to_check_the_token(
    api: PhotoServiceClient, lookups: LookupRecorder
) -> None:
    alice_id = api.sign_up("alice")["id"]
    alice = api.log_in("alice")

    for _ in range(3):
        assert api.get("/api/v1/photos", alice).status_code == 200

    assert lookups.lookups == [{"ids": [alice_id], "usernames": []}]


def test_the_callers_own_photos_need_no_lookup(api: PhotoServiceClient, lookups: LookupRecorder) -> None:
    alice = api.user_with_token("alice")
    photo_id = upload(api, alice)
    lookups.clear()  # the token's account, checked once

    api.get("/api/v1/photos", alice)
    api.get(f"/api/v1/photos/{photo_id}", alice)
    api.patch(f"/api/v1/photos/{photo_id}", alice, json={"caption": "mine"})
    api.get("/api/v1/users/alice/photos", alice)

    assert lookups.lookups == []


def test_a_feed_page_with_several_owners_makes_exactly_one_lookup(
    api: PhotoServiceClient, lookups: LookupRecorder, photo_settings: Settings, user_service: UserService
) -> None:
    bob = api.user_with_token("bob")
    owners = {name: api.user_with_token(name) for name in ("alice", "carol", "dave", "erin")}
    for token in owners.values():
        share(api, token, upload(api, token), "bob")

    with fresh_service_knowing(photo_settings, user_service, bob) as fresh:
        page = fresh.get("/api/v1/feed", bob).get_json()

    assert [item["owner"] for item in page["items"]] == ["erin", "dave", "carol", "alice"]
    assert len(lookups.lookups) == 1
    assert len(lookups.lookups[0]["ids"]) == 4


def test_a_full_page_of_100_photos_by_20_owners_makes_one_lookup(
    api: PhotoServiceClient,
    lookups: LookupRecorder,
    user_service: UserService,
    photo_resources: PhotoResources,
) -> None:
    bob_id = api.sign_up("bob")["id"]
    bob = api.log_in("bob")
    # Rows written directly: only the owners' ids and names matter here.
    owner_ids = [
        row["id"]
        for row in fetch_rows(
            user_service.database_url,
            "INSERT INTO users (username, display_name, password_hash) "
            "SELECT 'owner_' || n, 'Owner ' || n, 'unused' FROM generate_series(1, 20) AS n RETURNING id",
        )
    ]
    execute_sql(
        photo_resources.database_url,
        "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes, "
        "object_key, thumbnail_key) "
        "SELECT (CAST(:owners AS bigint[]))[1 + n % 20], '', 'private', 'image/jpeg', 1, 1, 1, "
        "'photos/' || n, 'thumbnails/' || n FROM generate_series(1, 100) AS n",
        {"owners": owner_ids},
    )
    execute_sql(
        photo_resources.database_url,
        "INSERT INTO shares (photo_id, user_id) SELECT id, :bob FROM photos ORDER BY id",
        {"bob": bob_id},
    )
    assert api.get("/api/v1/photos", bob).status_code == 200  # bob's own account, checked once
    lookups.clear()

    page = api.get("/api/v1/feed?limit=100", bob).get_json()

    assert len(page["items"]) == 100
    assert len({item["owner"] for item in page["items"]}) == 20
    assert len(lookups.lookups) == 1
    assert sorted(lookups.lookups[0]["ids"]) == sorted(owner_ids)


def test_users_known_from_an_earlier_page_are_not_asked_for_again(
    api: PhotoServiceClient, lookups: LookupRecorder, photo_settings: Settings, user_service: UserService
) -> None:
    bob = api.user_with_token("bob")
    alice = api.user_with_token("alice")
    carol = api.user_with_token("carol")
    for token in (alice, carol, alice, carol):
        share(api, token, upload(api, token), "bob")

    with fresh_service_knowing(photo_settings, user_service, bob) as fresh:
        first = fresh.get("/api/v1/feed?limit=2", bob).get_json()
        second = fresh.get(f"/api/v1/feed?limit=2&cursor={first['next_cursor']}", bob).get_json()

    assert [item["owner"] for item in first["items"] + second["items"]] == ["carol", "alice"] * 2
    assert len(lookups.lookups) == 1


def test_a_shared_photo_looks_up_its_owner_once(
    api: PhotoServiceClient, lookups: LookupRecorder, photo_settings: Settings, user_service: UserService
) -> None:
    alice_id = api.sign_up("alice")["id"]
    alice = api.log_in("alice")
    bob = api.user_with_token("bob")
    photo_id = upload(api, alice)
    share(api, alice, photo_id, "bob")

    with fresh_service_knowing(photo_settings, user_service, bob) as fresh:
        for _ in range(3):
            assert fresh.get(f"/api/v1/photos/{photo_id}", bob).get_json()["owner"] == "alice"

    assert lookups.lookups == [{"ids": [alice_id], "usernames": []}]


def test_lookups_carry_the_request_id(
    api: PhotoServiceClient, lookups: LookupRecorder, photo_settings: Settings, user_service: UserService
) -> None:
    alice = api.user_with_token("alice")
    bob = api.user_with_token("bob")
    photo_id = upload(api, alice, visibility="public")

    with fresh_service_knowing(photo_settings, user_service, bob) as fresh:
        fresh.get(f"/api/v1/photos/{photo_id}", bob, headers={"X-Request-ID": "trace-me-42"})

    assert lookups.request_ids == ["trace-me-42"]


def scripted_directory(peer: ScriptedPeer) -> UserDirectory:
    """A directory whose user-service answers from `peer`'s script."""
    return UserDirectory(
        UserServiceSettings(url="http://user-service.test"), sleep=peer.sleep, transport=peer.transport()
    )


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.Response(503)])
def test_a_lookup_that_failed_fast_is_sent_again(failure: httpx.Response | Exception) -> None:
    peer = ScriptedPeer(failure, httpx.Response(200, json={"users": [ALICE]}))

    assert scripted_directory(peer).usernames([ALICE_ID]) == {ALICE_ID: "alice"}
    assert len(peer.requests) == 2


@pytest.mark.parametrize(
    ("answers", "sent"),
    [
        # The answer did not come in time: user-service has the lookup, asking again would wait as long.
        ([httpx.ReadTimeout("slow")], 1),
        ([httpx.Response(400, json={})], 1),
        ([httpx.Response(502), httpx.ConnectError("refused")], 2),
    ],
    ids=["timed out", "refused", "attempts spent"],
)
def test_a_lookup_left_without_answer_is_503_service_unavailable(
    answers: list[httpx.Response | Exception], sent: int
) -> None:
    peer = ScriptedPeer(*answers)

    with pytest.raises(ServiceUnavailable, match="The user directory does not answer"):
        scripted_directory(peer).user(ALICE_ID)
    assert len(peer.requests) == sent


@pytest.fixture
def own_user_service(user_service: UserService) -> Iterator[RunningServer]:
    """A second user-service instance on the same data, for a test to stop."""
    running = serve(user_service_app(user_service.database_url, user_service.signing_key_pem))
    yield running
    running.stop()


def test_without_user_service_cached_and_own_users_still_work(
    empty_services: None, photo_settings: Settings, own_user_service: RunningServer, user_service: UserService
) -> None:
    settings = with_user_service(photo_settings, own_user_service.url, attempts=2)
    with photo_service(photo_settings) as other, photo_service(settings) as app:
        # carol uploads through another instance: this one never hears of her account.
        carol = PhotoServiceClient(other.test_client(), user_service.url)
        check_without_user_service(
            PhotoServiceClient(app.test_client(), user_service.url), carol, own_user_service
        )


def check_without_user_service(
    api: PhotoServiceClient, elsewhere: PhotoServiceClient, own_user_service: RunningServer
) -> None:
    """Warm the cache, stop user-service, then see what still works."""
    alice, bob, carol = (api.user_with_token(name) for name in ("alice", "bob", "carol"))
    shared = upload(api, alice)
    share(api, alice, shared, "bob")
    carols = upload(elsewhere, carol, visibility="public")
    assert api.get(f"/api/v1/photos/{shared}", bob).status_code == 200

    own_user_service.stop()

    assert api.get(f"/api/v1/photos/{shared}", bob).get_json()["owner"] == "alice"
    assert [item["owner"] for item in api.get("/api/v1/feed", bob).get_json()["items"]] == ["alice"]
    assert api.get("/api/v1/photos", alice).status_code == 200
    assert api.get("/api/v1/users/alice/photos", alice).status_code == 200
    assert api.get(f"/api/v1/photos/{shared}/shares", alice).get_json()["items"][0]["username"] == "bob"
    assert api.get(f"/api/v1/photos/{carols}/content", bob).status_code == 200
    assert api.get("/readyz").status_code == 200
    needing_user_service = [
        api.client.get(f"/api/v1/photos/{carols}", headers={"Authorization": f"Bearer {bob}"}),
        api.client.get("/api/v1/users/carol/photos", headers={"Authorization": f"Bearer {bob}"}),
        api.client.post(
            f"/api/v1/photos/{shared}/shares",
            json={"username": "carol"},
            headers={"Authorization": f"Bearer {alice}"},
        ),
    ]
    for response in needing_user_service:
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"] == PROBLEMS + "service-unavailable"
    # Nothing was shared with carol while user-service was away.
    shares = api.get(f"/api/v1/photos/{shared}/shares", alice).get_json()["items"]
    assert [item["username"] for item in shares] == ["bob"]


def test_a_photo_whose_owner_user_service_no_longer_knows_is_gone(
    api: PhotoServiceClient, user_service: UserService, photo_settings: Settings
) -> None:
    alice = api.user_with_token("alice")
    bob = api.user_with_token("bob")
    photo_id = upload(api, alice, visibility="public")
    share(api, alice, photo_id, "bob")
    execute_sql(user_service.database_url, "DELETE FROM users WHERE username = 'alice'")

    with fresh_service_knowing(photo_settings, user_service, bob) as fresh:
        assert fresh.get(f"/api/v1/photos/{photo_id}", bob).status_code == 404
        assert fresh.get("/api/v1/feed", bob).get_json()["items"] == []
        # Nor does her token open anything on a service that has not met her yet.
        assert fresh.get("/api/v1/photos", alice).status_code == 401


def directory_on(url: str, clock: list[float]) -> UserDirectory:
    """A directory with a clock the test moves."""
    return UserDirectory(UserServiceSettings(url=url, cache_ttl_seconds=600), clock=lambda: clock[0])


def test_cached_users_are_asked_for_again_after_the_ttl(
    api: PhotoServiceClient, user_service: UserService, lookups: LookupRecorder
) -> None:
    alice_id = api.sign_up("alice")["id"]
    clock = [0.0]
    directory = directory_on(user_service.url, clock)

    assert directory.usernames([alice_id]) == {alice_id: "alice"}
    clock[0] = 599.0
    assert directory.usernames([alice_id]) == {alice_id: "alice"}
    assert len(lookups.lookups) == 1
    clock[0] = 601.0
    assert directory.usernames([alice_id]) == {alice_id: "alice"}
    assert len(lookups.lookups) == 2
    directory.close()


def test_usernames_are_resolved_afresh_and_remember_the_id(
    api: PhotoServiceClient, user_service: UserService, lookups: LookupRecorder
) -> None:
    alice_id = api.sign_up("alice")["id"]
    directory = directory_on(user_service.url, [0.0])

    assert directory.user_id("alice") == alice_id
    assert directory.user_id("alice") == alice_id
    assert directory.usernames([alice_id]) == {alice_id: "alice"}

    assert lookups.lookups == [{"ids": [], "usernames": ["alice"]}] * 2
    directory.close()


def test_a_username_taken_again_after_its_account_is_gone_names_the_new_account(
    api: PhotoServiceClient, user_service: UserService
) -> None:
    alice = api.user_with_token("alice")
    api.sign_up("bob")
    first = upload(api, alice)
    share(api, alice, first, "bob")
    execute_sql(user_service.database_url, "DELETE FROM users WHERE username = 'bob'")
    new_bob = api.user_with_token("bob")
    second = upload(api, alice)

    share(api, alice, second, "bob")

    assert [item["id"] for item in api.get("/api/v1/feed", new_bob).get_json()["items"]] == [second]
    assert api.get(f"/api/v1/photos/{second}", new_bob).status_code == 200
    assert api.get(f"/api/v1/photos/{first}", new_bob).status_code == 404


def test_unknown_users_are_not_cached(
    api: PhotoServiceClient, user_service: UserService, lookups: LookupRecorder
) -> None:
    directory = directory_on(user_service.url, [0.0])

    assert directory.user_id("later") is None
    later_id = api.sign_up("later")["id"]

    assert directory.user_id("later") == later_id
    assert len(lookups.lookups) == 2
    directory.close()


def test_invalid_usernames_are_never_looked_up(user_service: UserService, lookups: LookupRecorder) -> None:
    lookups.clear()
    directory = directory_on(user_service.url, [0.0])

    assert directory.user_id("NOT_VALID") is None
    assert directory.user_id("x" * 33) is None

    assert lookups.lookups == []
    directory.close()


def test_more_ids_than_one_lookup_takes_are_split(user_service: UserService, lookups: LookupRecorder) -> None:
    lookups.clear()
    directory = directory_on(user_service.url, [0.0])

    assert directory.usernames(range(1_000_000, 1_000_000 + 2 * MAX_LOOKUP_ENTRIES + 1)) == {}

    assert [len(call["ids"]) for call in lookups.lookups] == [MAX_LOOKUP_ENTRIES, MAX_LOOKUP_ENTRIES, 1]
    directory.close()


def test_readiness_does_not_depend_on_user_service_once_the_token_keys_are_known(
    empty_services: None, photo_settings: Settings, own_user_service: RunningServer
) -> None:
    with photo_service(with_user_service(photo_settings, own_user_service.url)) as app:
        own_user_service.stop()
        response = app.test_client().get("/readyz")

    assert_conforms(response)
    assert response.status_code == 200
