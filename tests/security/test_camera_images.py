"""Images as real cameras and editors write them: each uploads, or gets a precise 4xx.

Every image runs against both versions (the `api` fixture). An accepted image gets 201,
its bytes back unchanged, and an upright JPEG thumbnail; a refused one gets its problem
type and leaves no row and no object behind.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.images import png_bomb
from tests.security.camera_images import (
    ACCEPTED_IMAGES,
    MARKED_SIZE,
    REFUSED_IMAGES,
    RefusedImage,
    jpeg_with_orientation,
)
from tests.security.refusals import assert_refused_without_a_trace
from tests.support.api_client import ApiClient
from tests.support.versions import StackUnderTest

# EXIF orientation -> whether the upright picture's top-left corner is red (else blue), for
# the marked image (red left half, blue right half, wider than tall).
RED_TOP_LEFT_AFTER_ORIENTATION = {1: True, 2: False, 3: False, 4: True, 5: True, 6: True, 7: False, 8: False}


def thumbnail_of(api: ApiClient, token: str, photo_id: int) -> Image.Image:
    """The photo's thumbnail, decoded; it must be a JPEG."""
    response = api.get(f"/api/v1/photos/{photo_id}/thumbnail", token)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(response.get_data()))
    assert thumbnail.format == "JPEG"
    assert thumbnail.mode == "RGB"
    return thumbnail


def is_red(pixel: tuple[int, ...]) -> bool:
    """Mostly red rather than mostly blue (JPEG blurs the exact colours)."""
    red, _green, blue = pixel[:3]
    return red > blue + 100


@pytest.mark.parametrize("image_name", list(ACCEPTED_IMAGES))
def test_a_camera_image_uploads_with_an_upright_thumbnail(api: ApiClient, image_name: str) -> None:
    image = ACCEPTED_IMAGES[image_name]
    token = api.user_with_token("camera")
    data = image.make()

    response = api.upload(token, data, filename=image.filename)

    assert response.status_code == 201, response.get_data(as_text=True)
    photo = response.get_json()
    assert photo["content_type"] == image.content_type
    # Width and height are the picture as encoded, before any EXIF orientation.
    assert (photo["width"], photo["height"]) == MARKED_SIZE
    assert photo["size_bytes"] == len(data)
    content = api.get(f"/api/v1/photos/{photo['id']}/content", token)
    assert content.get_data() == data
    thumbnail = thumbnail_of(api, token, photo["id"])
    width, height = thumbnail.size
    assert (width > height) == image.upright_is_landscape


@pytest.mark.parametrize("orientation", sorted(RED_TOP_LEFT_AFTER_ORIENTATION))
def test_the_thumbnail_applies_each_exif_orientation(api: ApiClient, orientation: int) -> None:
    token = api.user_with_token("camera")

    response = api.upload(token, jpeg_with_orientation(orientation))

    assert response.status_code == 201, response.get_data(as_text=True)
    thumbnail = thumbnail_of(api, token, response.get_json()["id"])
    assert thumbnail.size == (MARKED_SIZE if orientation < 5 else MARKED_SIZE[::-1])
    top_left = thumbnail.getpixel((2, 2))
    assert isinstance(top_left, tuple)
    assert is_red(top_left) == RED_TOP_LEFT_AFTER_ORIENTATION[orientation]


def test_a_16_bit_greyscale_thumbnail_keeps_its_tones(api: ApiClient) -> None:
    # A dark-to-bright ramp: clipping 16-bit samples to 8 bits would make it all white.
    token = api.user_with_token("camera")

    response = api.upload(token, ACCEPTED_IMAGES["png-gray-16-bit"].make(), filename="ramp.png")

    assert response.status_code == 201
    thumbnail = thumbnail_of(api, token, response.get_json()["id"]).convert("L")
    first_row = thumbnail.tobytes()[: thumbnail.width]
    assert first_row[1] < 32
    assert first_row[-2] > 224


@pytest.mark.parametrize("image", REFUSED_IMAGES.values(), ids=REFUSED_IMAGES.keys())
def test_a_file_that_is_not_a_usable_image_is_refused_without_a_trace(
    api: ApiClient, stack: StackUnderTest, image: RefusedImage
) -> None:
    response = api.upload(api.user_with_token("camera"), image.make(), filename=image.filename)

    assert_refused_without_a_trace(response, stack, status=image.status, slug=image.slug)


def test_too_many_pixels_is_refused_without_a_trace(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("camera")

    response = api.upload(token, png_bomb(20_000, 20_000), filename="bomb.png")

    # 422, not 413: the body is small; it is the picture it describes that is too large.
    assert_refused_without_a_trace(response, stack, status=422, slug="image-too-large")
