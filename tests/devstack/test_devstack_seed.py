"""Seeding through the public API, against an in-memory stand-in for Snappy."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from snappy_devstack.sample_images import sample_image
from snappy_devstack.seed import DEMO_PASSWORD, SeedError, sample_usernames, seed

if TYPE_CHECKING:
    from tests.devstack.fake_snappy import FakeSnappy


def test_seed_signs_up_uploads_and_shares(fake_snappy: FakeSnappy) -> None:
    summary = seed(fake_snappy.base_url, users=3, photos_per_user=4)

    assert summary.usernames == ("alice", "bob", "carol")
    assert summary.password == DEMO_PASSWORD
    assert (summary.users_created, summary.photos_uploaded) == (3, 12)
    assert {photo["owner"] for photo in fake_snappy.photos} == {"alice", "bob", "carol"}
    visibilities = {photo["visibility"] for photo in fake_snappy.photos}
    assert visibilities == {"public", "private"}
    assert {photo["content_type"] for photo in fake_snappy.photos} == {"image/jpeg", "image/png"}
    assert all(photo["caption"] for photo in fake_snappy.photos)
    assert summary.shares_created == len(fake_snappy.shares) == 6
    owners = {photo["id"]: photo["owner"] for photo in fake_snappy.photos}
    assert all(owners[photo_id] != username for photo_id, username in fake_snappy.shares)


def test_seeding_again_logs_in_and_adds_nothing(fake_snappy: FakeSnappy) -> None:
    seed(fake_snappy.base_url, users=2, photos_per_user=2)
    again = seed(fake_snappy.base_url, users=3, photos_per_user=2)
    assert (again.users_created, again.photos_uploaded, again.shares_created) == (1, 2, 1)
    assert len(fake_snappy.photos) == 6


def test_a_taken_username_with_another_password_is_reported(fake_snappy: FakeSnappy) -> None:
    fake_snappy.passwords["alice"] = "someone-elses-password"
    with pytest.raises(SeedError, match=r"user 'alice' exists .* with another password"):
        seed(fake_snappy.base_url, users=1)


def test_sample_usernames_go_past_the_named_ones() -> None:
    names = sample_usernames(21)
    assert names[:3] == ["alice", "bob", "carol"]
    assert names[-2:] == ["user20", "user21"]
    assert len(set(names)) == 21


@pytest.mark.parametrize("number", range(6))
def test_sample_images_decode_to_what_they_claim(number: int) -> None:
    picture = sample_image(number)
    decoded = Image.open(io.BytesIO(picture.content))
    assert Image.MIME[str(decoded.format)] == picture.content_type
    assert decoded.size == (picture.width, picture.height)
    assert picture.filename.endswith((".jpg", ".png"))
    assert sample_image(number).content == picture.content  # the same number, the same bytes
