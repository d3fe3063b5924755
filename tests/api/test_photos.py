"""Uploading, reading, changing and deleting photos, through the JSON API."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from snappy_devstack.backing import BackingServices
from tests.conftest import ApiClient, MonolithResources, list_objects
from tests.images import image_bytes, png_bomb

PROBLEMS = "https://snappy.example/problems/"


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_upload_stores_the_photo_and_describes_it(api: ApiClient, fmt: str, content_type: str) -> None:
    token = api.user_with_token("alice")
    data = image_bytes(fmt, size=(640, 480))

    response = api.upload(token, data, caption="Sunset", visibility="public", filename="x.bin")

    assert response.status_code == 201
    photo = response.get_json()
    assert photo["owner"] == "alice"
    assert photo["caption"] == "Sunset"
    assert photo["visibility"] == "public"
    assert photo["content_type"] == content_type
    assert (photo["width"], photo["height"]) == (640, 480)
    assert photo["size_bytes"] == len(data)
    assert response.headers["Location"] == f"/api/v1/photos/{photo['id']}"


def test_upload_defaults_to_private_with_an_empty_caption(api: ApiClient) -> None:
    token = api.user_with_token("alice")

    photo = api.upload(token, image_bytes()).get_json()

    assert photo["visibility"] == "private"
    assert photo["caption"] == ""


def test_content_returns_the_bytes_exactly_as_uploaded(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    data = image_bytes("PNG", size=(300, 200))
    photo_id = api.upload(token, data).get_json()["id"]

    response = api.get(f"/api/v1/photos/{photo_id}/content", token)

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.get_data() == data


def test_thumbnail_is_a_jpeg_that_fits_in_320_pixels(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    photo_id = api.upload(token, image_bytes("WEBP", size=(1200, 600))).get_json()["id"]

    response = api.get(f"/api/v1/photos/{photo_id}/thumbnail", token)

    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.get_data())) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (320, 160)


def test_photo_metadata_is_readable_by_its_owner(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    uploaded = api.upload(token, image_bytes(), caption="Hi").get_json()

    response = api.get(f"/api/v1/photos/{uploaded['id']}", token)

    assert response.status_code == 200
    assert response.get_json() == uploaded


def test_my_photos_are_listed_newest_first_in_pages(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    ids = [api.upload(token, image_bytes(), caption=f"photo {n}").get_json()["id"] for n in range(5)]
    other = api.user_with_token("bob")
    api.upload(other, image_bytes())

    first = api.get("/api/v1/photos?limit=2", token).get_json()
    second = api.get(f"/api/v1/photos?limit=2&cursor={first['next_cursor']}", token).get_json()
    third = api.get(f"/api/v1/photos?limit=2&cursor={second['next_cursor']}", token).get_json()

    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert seen == list(reversed(ids))
    assert third["next_cursor"] is None


def test_the_default_page_holds_twenty(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    data = image_bytes(size=(8, 8))
    for _ in range(21):
        api.upload(token, data)

    page = api.get("/api/v1/photos", token).get_json()

    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "cursor=garbage", "cursor=djE6eA"]
)
def test_bad_paging_parameters_are_rejected(api: ApiClient, query: str) -> None:
    token = api.user_with_token("alice")

    response = api.get(f"/api/v1/photos?{query}", token)

    assert response.status_code == 400
    assert response.get_json()["type"] == PROBLEMS + "invalid-parameter"


def test_a_users_public_photos_leave_out_private_ones(api: ApiClient) -> None:
    alice = api.user_with_token("alice")
    public_id = api.upload(alice, image_bytes(), visibility="public").get_json()["id"]
    api.upload(alice, image_bytes(), visibility="private")
    bob = api.user_with_token("bob")

    page = api.get("/api/v1/users/alice/photos", bob).get_json()

    assert [item["id"] for item in page["items"]] == [public_id]


def test_owner_changes_caption_and_visibility(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    photo_id = api.upload(token, image_bytes()).get_json()["id"]

    response = api.patch(f"/api/v1/photos/{photo_id}", token, json={"caption": "New", "visibility": "public"})

    assert response.status_code == 200
    assert response.get_json()["caption"] == "New"
    assert api.get(f"/api/v1/photos/{photo_id}", token).get_json()["visibility"] == "public"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"visibility": "friends"},
        {"caption": "x" * 2001},
        {"caption": 5},
        {"owner": "bob"},
        {"caption": "a\u0007b"},
    ],
)
def test_invalid_changes_are_rejected_and_change_nothing(api: ApiClient, body: dict[str, object]) -> None:
    token = api.user_with_token("alice")
    before = api.upload(token, image_bytes(), caption="Kept").get_json()

    response = api.patch(f"/api/v1/photos/{before['id']}", token, json=body)

    assert response.status_code == 422
    assert response.get_json()["type"] == PROBLEMS + "validation-failed"
    assert api.get(f"/api/v1/photos/{before['id']}", token).get_json() == before


def test_delete_removes_the_row_the_objects_and_the_shares(
    api: ApiClient, backing: BackingServices, monolith_resources: MonolithResources
) -> None:
    alice = api.user_with_token("alice")
    bob = api.user_with_token("bob")
    photo_id = api.upload(alice, image_bytes()).get_json()["id"]
    api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})
    assert len(list_objects(backing, monolith_resources.bucket)) == 2

    response = api.delete(f"/api/v1/photos/{photo_id}", alice)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert api.get(f"/api/v1/photos/{photo_id}", alice).status_code == 404
    assert api.get("/api/v1/feed", bob).get_json()["items"] == []
    assert list_objects(backing, monolith_resources.bucket) == []


class TestFailedUploadsLeaveNothingBehind:
    """Every rejected upload: a precise 4xx, no row and no object."""

    @pytest.fixture(autouse=True)
    def _check_nothing_left(
        self, api: ApiClient, backing: BackingServices, monolith_resources: MonolithResources
    ) -> object:
        yield
        assert list_objects(backing, monolith_resources.bucket) == []
        engine = create_engine(
            monolith_resources.database_url.replace("postgresql://", "postgresql+psycopg://")
        )
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM photos")).scalar_one() == 0
        engine.dispose()

    def test_a_file_that_is_not_an_image_is_unsupported(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")

        response = api.upload(token, b"%PDF-1.7 definitely not an image", filename="photo.jpg")

        assert response.status_code == 415
        assert response.get_json()["type"] == PROBLEMS + "unsupported-media-type"

    @pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
    def test_images_in_other_formats_are_unsupported(self, api: ApiClient, fmt: str) -> None:
        token = api.user_with_token("alice")

        response = api.upload(token, image_bytes(fmt), filename="photo.jpg")

        assert response.status_code == 415

    def test_a_truncated_image_is_invalid(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")
        data = image_bytes("JPEG", size=(400, 400))

        response = api.upload(token, data[: len(data) // 2])

        assert response.status_code == 422
        assert response.get_json()["type"] == PROBLEMS + "invalid-image"

    def test_a_decompression_bomb_is_refused_within_a_second(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")
        bomb = png_bomb(50_000, 50_000)

        started = time.perf_counter()
        response = api.upload(token, bomb, filename="bomb.png")
        elapsed = time.perf_counter() - started

        assert response.status_code == 422
        assert response.get_json()["type"] == PROBLEMS + "image-too-large"
        # Generous: the refusal reads only the header; decoding would take minutes.
        assert elapsed < 1.0

    def test_a_file_over_the_size_limit_is_too_large(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")

        response = api.upload(token, b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024))

        assert response.status_code == 413
        assert response.get_json()["type"] == PROBLEMS + "payload-too-large"

    @pytest.mark.parametrize(
        ("caption", "visibility", "field"),
        [("x" * 2001, None, "caption"), ("ok", "friends", "visibility"), ("nul\u0000", None, "caption")],
    )
    def test_invalid_fields_are_rejected(
        self, api: ApiClient, caption: str, visibility: str | None, field: str
    ) -> None:
        token = api.user_with_token("alice")

        response = api.upload(token, image_bytes(), caption=caption, visibility=visibility)

        assert response.status_code == 422
        assert [error["field"] for error in response.get_json()["errors"]] == [field]

    def test_a_body_without_a_file_is_malformed(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")

        response = api.post(
            "/api/v1/photos", token, data={"caption": "no file"}, content_type="multipart/form-data"
        )

        assert response.status_code == 400
        assert response.get_json()["type"] == PROBLEMS + "malformed-request"

    def test_a_json_body_is_unsupported(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")

        response = api.post("/api/v1/photos", token, json={"file": "aGVsbG8="})

        assert response.status_code == 415

    def test_an_unknown_form_field_is_rejected(self, api: ApiClient) -> None:
        token = api.user_with_token("alice")
        form = {"file": (io.BytesIO(image_bytes()), "a.jpg"), "owner": "bob"}

        response = api.post("/api/v1/photos", token, data=form, content_type="multipart/form-data")

        assert response.status_code == 422

    def test_an_upload_whose_row_cannot_be_written_removes_its_objects(
        self, api: ApiClient, monolith_resources: MonolithResources
    ) -> None:
        token = api.user_with_token("alice")
        # The user disappears after the token was issued: the insert violates the
        # foreign key, after both objects were stored.
        engine = create_engine(
            monolith_resources.database_url.replace("postgresql://", "postgresql+psycopg://")
        )
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM users WHERE username = 'alice'"))
        engine.dispose()

        response = api.upload(token, image_bytes())

        assert response.status_code == 401
