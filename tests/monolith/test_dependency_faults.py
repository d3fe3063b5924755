"""The monolith answers a stalled or refused PostgreSQL or S3 with a timely 503, then recovers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask

from snappy_monolith import create_app as create_monolith
from snappy_monolith.config import DatabaseTimeouts, Settings
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.dependency_faults import Faults, assert_unavailable, proxied_settings, timed
from tests.support.versions import StackUnderTest


@pytest.fixture
def monolith(
    settings: Settings, monolith_stack: StackUnderTest, faults: Faults
) -> Iterator[tuple[ApiClient, Flask]]:
    """The monolith on its session database and bucket, both reached through the proxies."""
    monolith_stack.reset()
    proxied = proxied_settings(
        faults, database_url=settings.database_url, s3=settings.s3, timeouts=DatabaseTimeouts
    )
    app = create_monolith(replace(settings, **proxied))
    app.config["TESTING"] = True
    try:
        yield ApiClient(app.test_client()), app
    finally:
        app.extensions["snappy"].database.dispose()


def test_monolith_answers_503_while_postgresql_stalls_and_recovers(
    monolith: tuple[ApiClient, Flask], faults: Faults, monolith_stack: StackUnderTest
) -> None:
    api, _ = monolith
    token = api.user_with_token("alice")
    assert api.upload(token, image_bytes()).status_code == 201

    faults.database.stall()
    response, elapsed = timed(lambda: api.upload(token, image_bytes(), caption="during the stall"))
    assert_unavailable(response, elapsed)
    listing, elapsed = timed(lambda: api.get("/api/v1/photos", token))
    assert_unavailable(listing, elapsed)

    faults.database.pass_through()
    # No partial write: the failed upload took its objects back.
    assert monolith_stack.photo_count() == 1
    assert len(monolith_stack.object_keys()) == 2
    assert api.upload(token, image_bytes(), caption="after").status_code == 201
    assert len(api.get("/api/v1/photos", token).get_json()["items"]) == 2


def test_monolith_answers_503_while_postgresql_refuses(
    monolith: tuple[ApiClient, Flask], faults: Faults
) -> None:
    api, _ = monolith
    token = api.user_with_token("alice")

    faults.database.refuse()
    response, elapsed = timed(lambda: api.get("/api/v1/photos", token))
    assert_unavailable(response, elapsed)

    faults.database.pass_through()
    assert api.get("/api/v1/photos", token).status_code == 200


def test_monolith_answers_503_while_s3_stalls_and_recovers(
    monolith: tuple[ApiClient, Flask], faults: Faults, monolith_stack: StackUnderTest
) -> None:
    api, _ = monolith
    token = api.user_with_token("alice")
    photo_id = api.upload(token, image_bytes()).get_json()["id"]

    faults.s3.stall()
    content, elapsed = timed(lambda: api.get(f"/api/v1/photos/{photo_id}/content", token))
    assert_unavailable(content, elapsed)
    upload, elapsed = timed(lambda: api.upload(token, image_bytes(), caption="during the stall"))
    assert_unavailable(upload, elapsed)
    assert monolith_stack.photo_count() == 1

    faults.s3.pass_through()
    assert api.get(f"/api/v1/photos/{photo_id}/content", token).status_code == 200
    assert api.upload(token, image_bytes(), caption="after").status_code == 201
