"""`Idempotency-Key` on uploads: a retry replays, another request is refused, never twice stored."""

from __future__ import annotations

import io
import threading
from typing import Any

from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.stores import execute_sql
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"


def keyed_upload(
    api: ApiClient, token: str, key: str, data: bytes, *, caption: str = "", visibility: str = "private"
) -> Any:
    """Upload with an Idempotency-Key."""
    form = {"file": (io.BytesIO(data), "photo.jpg"), "caption": caption, "visibility": visibility}
    return api.post(
        "/api/v1/photos",
        token,
        data=form,
        content_type="multipart/form-data",
        headers={"Idempotency-Key": key},
    )


def key_rows(stack: StackUnderTest) -> int:
    """How many upload_requests rows the stack holds."""
    count: int = execute_sql(stack.photo_database_url, "SELECT count(*) FROM upload_requests")
    return count


def test_a_retry_with_the_same_key_replays_the_first_photo(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("alice")
    data = image_bytes()

    first = keyed_upload(api, token, "upload-1", data, caption="sunset")
    retry = keyed_upload(api, token, "upload-1", data, caption="sunset")

    assert first.status_code == 201, first.get_data(as_text=True)
    assert retry.status_code == 201, retry.get_data(as_text=True)
    assert retry.get_json() == first.get_json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert stack.photo_count() == 1
    assert key_rows(stack) == 1
    assert len(stack.object_keys()) == 2


def test_the_same_key_with_another_request_is_refused(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("alice")
    assert keyed_upload(api, token, "upload-1", image_bytes(), caption="one").status_code == 201

    other_caption = keyed_upload(api, token, "upload-1", image_bytes(), caption="two")
    other_file = keyed_upload(api, token, "upload-1", image_bytes(color=(1, 2, 3)), caption="one")
    other_visibility = keyed_upload(api, token, "upload-1", image_bytes(), caption="one", visibility="public")

    for response in (other_caption, other_file, other_visibility):
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.get_json()["type"] == PROBLEMS + "idempotency-key-reused"
    assert stack.photo_count() == 1
    assert len(stack.object_keys()) == 2


def test_keys_are_per_user(api: ApiClient, stack: StackUnderTest) -> None:
    alice = api.user_with_token("alice")
    bob = api.user_with_token("bob")

    mine = keyed_upload(api, alice, "same-key", image_bytes())
    theirs = keyed_upload(api, bob, "same-key", image_bytes())

    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert stack.photo_count() == 2


def test_concurrent_uploads_with_one_key_store_one_photo(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("alice")
    data = image_bytes(size=(640, 480))
    statuses: list[int] = []
    ids: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def upload() -> None:
        client = ApiClient(stack.make_client())
        start.wait()
        response = keyed_upload(client, token, "racing-key", data)
        with lock:
            statuses.append(response.status_code)
            if response.status_code == 201:
                ids.append(response.get_json()["id"])

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Each either replays the one photo or is told the key is still in flight.
    assert set(statuses) <= {201, 409}, statuses
    assert 201 in statuses
    assert len(set(ids)) == 1
    assert stack.photo_count() == 1
    assert key_rows(stack) == 1
    assert len(stack.object_keys()) == 2


def test_a_retry_after_the_photo_was_deleted_does_not_bring_it_back(
    api: ApiClient, stack: StackUnderTest
) -> None:
    token = api.user_with_token("alice")
    data = image_bytes()
    photo_id = keyed_upload(api, token, "upload-1", data).get_json()["id"]
    assert api.delete(f"/api/v1/photos/{photo_id}", token).status_code == 204

    retry = keyed_upload(api, token, "upload-1", data)

    assert retry.status_code == 404
    assert retry.get_json()["type"] == PROBLEMS + "not-found"
    assert stack.photo_count() == 0
    assert stack.object_keys() == []


def test_an_invalid_key_is_refused(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("alice")

    too_long = keyed_upload(api, token, "k" * 256, image_bytes())
    not_printable = keyed_upload(api, token, "tab\tinside", image_bytes())

    for response in (too_long, not_printable):
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["type"] == PROBLEMS + "malformed-request"
    assert stack.photo_count() == 0


def test_without_a_key_every_upload_is_a_new_photo(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("alice")
    data = image_bytes()

    first = api.upload(token, data)
    second = api.upload(token, data)

    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]
    assert stack.photo_count() == 2
    assert key_rows(stack) == 0
