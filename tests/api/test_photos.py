"""Uploading, reading, changing and deleting photos, through the JSON API."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.images import image_bytes, png_bomb
from tests.support.api_client import ApiClient
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"
# A text field's value, or a file part as (content, filename).
FormPart = tuple[str, str | tuple[bytes, str]]


def multipart_form(parts: list[FormPart]) -> tuple[bytes, str]:
    """Encode `parts` as a multipart body; returns the body and its Content-Type.

    Unlike a dict form, a list of parts can repeat a name, as a hand-written client might.
    """
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, tuple[str, bytes]]] = []
    for name, value in parts:
        if isinstance(value, tuple):
            content, filename = value
            files.append((name, (filename, content)))
        else:
            fields.setdefault(name, []).append(value)
    encoded = httpx.Request("POST", "http://snappy.invalid/", data=fields, files=files)
    return encoded.read(), encoded.headers["Content-Type"]


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
    assert response.headers["Cache-Control"] == "private, max-age=60"
    assert response.get_data() == data


def test_thumbnail_is_a_jpeg_that_fits_in_320_pixels(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    photo_id = api.upload(token, image_bytes("WEBP", size=(1200, 600))).get_json()["id"]

    response = api.get(f"/api/v1/photos/{photo_id}/thumbnail", token)

    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "private, max-age=60"
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
    assert {item["owner"] for page in (first, second, third) for item in page["items"]} == {"alice"}


def test_the_default_page_holds_twenty(api: ApiClient) -> None:
    token = api.user_with_token("alice")
    data = image_bytes(size=(8, 8))
    for _ in range(21):
        api.upload(token, data)

    page = api.get("/api/v1/photos", token).get_json()

    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None


BAD_PAGING_QUERIES = [
    "limit=0",
    "limit=101",
    "limit=abc",
    "limit=-1",
    "limit=1.5",
    "cursor=garbage",
    "cursor=djE6eA",
]


@pytest.mark.parametrize(
    ("path", "query"),
    [("/api/v1/photos", query) for query in BAD_PAGING_QUERIES]
    + [
        (path, query)
        for path in ("/api/v1/feed", "/api/v1/users/alice/photos", "/api/v1/users/nobody/photos")
        for query in ("limit=0", "cursor=garbage")
    ],
)
def test_bad_paging_parameters_are_rejected(api: ApiClient, path: str, query: str) -> None:
    # Even on an unknown user's photos: the parameters are checked before the user is looked up.
    token = api.user_with_token("alice")

    response = api.get(f"{path}?{query}", token)

    assert response.status_code == 400
    assert response.get_json()["type"] == PROBLEMS + "invalid-parameter"


def test_a_users_public_photos_leave_out_private_ones(api: ApiClient) -> None:
    alice = api.user_with_token("alice")
    public_id = api.upload(alice, image_bytes(), visibility="public").get_json()["id"]
    api.upload(alice, image_bytes(), visibility="private")
    bob = api.user_with_token("bob")

    page = api.get("/api/v1/users/alice/photos", bob).get_json()

    assert [item["id"] for item in page["items"]] == [public_id]
    assert page["items"][0]["owner"] == "alice"


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


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug"),
    [
        (b"{not json", "application/json", 400, "malformed-request"),
        (b"[1, 2]", "application/json", 400, "malformed-request"),
        (b"caption=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ],
)
def test_unreadable_changes_are_refused(
    api: ApiClient, data: bytes, content_type: str, status: int, slug: str
) -> None:
    token = api.user_with_token("alice")
    before = api.upload(token, image_bytes(), caption="Kept").get_json()

    response = api.patch(f"/api/v1/photos/{before['id']}", token, data=data, content_type=content_type)

    assert response.status_code == status
    assert response.get_json()["type"] == PROBLEMS + slug
    assert api.get(f"/api/v1/photos/{before['id']}", token).get_json() == before


def test_delete_removes_the_row_the_objects_and_the_shares(api: ApiClient, stack: StackUnderTest) -> None:
    alice = api.user_with_token("alice")
    bob = api.user_with_token("bob")
    photo_id = api.upload(alice, image_bytes()).get_json()["id"]
    api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})
    assert len(stack.object_keys()) == 2

    response = api.delete(f"/api/v1/photos/{photo_id}", alice)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert api.get(f"/api/v1/photos/{photo_id}", alice).status_code == 404
    assert api.get("/api/v1/feed", bob).get_json()["items"] == []
    assert stack.object_keys() == []
    assert stack.photo_count() == 0


class TestFailedUploadsLeaveNothingBehind:
    """Every rejected upload: a precise 4xx, no row and no object."""

    @pytest.fixture(autouse=True)
    def _check_nothing_left(self, stack: StackUnderTest) -> Iterator[None]:
        yield
        assert stack.object_keys() == []
        assert stack.photo_count() == 0

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

    @pytest.mark.parametrize(
        ("parts", "field", "message"),
        [
            ([("owner", "bob")], "owner", "is not a known field"),
            ([("caption", "first"), ("caption", "second")], "caption", "must be given once"),
            ([("visibility", "public"), ("visibility", "private")], "visibility", "must be given once"),
            ([("file", (image_bytes("PNG"), "b.png"))], "file", "must be given once"),
            ([("caption", (b"Sunset", "caption.txt"))], "caption", "must be a text field, not a file"),
            ([("visibility", (b"public", "v.txt"))], "visibility", "must be a text field, not a file"),
        ],
        ids=[
            "unknown",
            "repeated caption",
            "repeated visibility",
            "repeated file",
            "caption as a file",
            "visibility as a file",
        ],
    )
    def test_unknown_repeated_or_misplaced_form_fields_are_rejected(
        self, api: ApiClient, parts: list[FormPart], field: str, message: str
    ) -> None:
        # A repeated part is refused rather than resolved by picking one of its values.
        token = api.user_with_token("alice")
        body, content_type = multipart_form([("file", (image_bytes(), "a.jpg")), *parts])

        response = api.post("/api/v1/photos", token, data=body, content_type=content_type)

        assert response.status_code == 422
        problem = response.get_json()
        assert problem["type"] == PROBLEMS + "validation-failed"
        assert problem["errors"] == [{"field": field, "message": message}]
