"""An upload whose row cannot be written takes its stored objects back with it.

Specific to photo-service: the monolith provokes this failure with a token that outlived
its user (the insert breaks the foreign key to `users`, tests/monolith), but photo-service's
`owner_id` has no foreign key, since users live in user-service's database. Here a trigger
on the service's own database refuses the row, which needs direct access to that database.
"""

from __future__ import annotations

import io

from snappy_devstack.backing import BackingServices
from tests.images import image_bytes
from tests.photo_service.conftest import PROBLEMS, PhotoResources, PhotoServiceClient, run_sql
from tests.support.stores import list_objects


def test_an_upload_whose_row_cannot_be_written_removes_its_objects(
    api: PhotoServiceClient, backing: BackingServices, photo_resources: PhotoResources
) -> None:
    token = api.user_with_token("alice")
    # The insert fails after both objects were stored.
    run_sql(
        photo_resources.database_url,
        "CREATE FUNCTION refuse_photo() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
    )
    run_sql(
        photo_resources.database_url,
        "CREATE TRIGGER refuse_photo BEFORE INSERT ON photos FOR EACH ROW EXECUTE FUNCTION refuse_photo()",
    )
    try:
        form = {"file": (io.BytesIO(image_bytes()), "a.jpg")}
        # A 500 is a defect by the contract's rules, so this one is not contract-checked.
        response = api.client.post(
            "/api/v1/photos",
            data=form,
            content_type="multipart/form-data",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        run_sql(photo_resources.database_url, "DROP FUNCTION refuse_photo() CASCADE")

    assert response.status_code == 500
    assert response.get_json()["type"] == PROBLEMS + "internal-error"
    assert list_objects(backing, photo_resources.bucket) == []
    assert run_sql(photo_resources.database_url, "SELECT count(*) FROM photos") == [(0,)]
