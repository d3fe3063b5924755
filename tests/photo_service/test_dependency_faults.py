"""photo-service answers a stalled or refused PostgreSQL or S3 with a timely 503, then recovers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from snappy_devstack.backing import BackingServices
from snappy_photo_service.config import Settings
from snappy_plumbing.database import DatabaseTimeouts
from tests.images import image_bytes
from tests.photo_service.conftest import (
    PhotoResources,
    PhotoServiceClient,
    UserService,
    photo_service,
)
from tests.support.dependency_faults import Faults, assert_unavailable, proxied_settings, timed
from tests.support.stores import execute_sql, list_objects


@pytest.fixture
def photo_api(
    photo_settings: Settings,
    photo_resources: PhotoResources,
    empty_services: None,
    user_service: UserService,
    faults: Faults,
) -> Iterator[PhotoServiceClient]:
    """photo-service on its test database and bucket, both reached through the proxies."""
    proxied = proxied_settings(
        faults, database_url=photo_resources.database_url, s3=photo_settings.s3, timeouts=DatabaseTimeouts
    )
    with photo_service(replace(photo_settings, **proxied)) as app:
        yield PhotoServiceClient(app.test_client(), user_service.url)


def test_photo_service_answers_503_while_postgresql_stalls_and_recovers(
    photo_api: PhotoServiceClient,
    faults: Faults,
    photo_resources: PhotoResources,
    backing: BackingServices,
) -> None:
    token = photo_api.user_with_token("alice")
    assert photo_api.upload(token, image_bytes()).status_code == 201

    faults.database.stall()
    response, elapsed = timed(lambda: photo_api.upload(token, image_bytes(), caption="during the stall"))
    assert_unavailable(response, elapsed)

    faults.database.refuse()
    listing, elapsed = timed(lambda: photo_api.get("/api/v1/photos", token))
    assert_unavailable(listing, elapsed)

    faults.database.pass_through()
    assert execute_sql(photo_resources.database_url, "SELECT count(*) FROM photos") == 1
    assert len(list_objects(backing, photo_resources.bucket)) == 2
    assert photo_api.upload(token, image_bytes(), caption="after").status_code == 201


def test_photo_service_answers_503_while_s3_stalls_and_recovers(
    photo_api: PhotoServiceClient, faults: Faults
) -> None:
    token = photo_api.user_with_token("alice")
    photo_id = photo_api.upload(token, image_bytes()).get_json()["id"]

    faults.s3.stall()
    content, elapsed = timed(lambda: photo_api.get(f"/api/v1/photos/{photo_id}/thumbnail", token))
    assert_unavailable(content, elapsed)

    faults.s3.pass_through()
    assert photo_api.get(f"/api/v1/photos/{photo_id}/thumbnail", token).status_code == 200
