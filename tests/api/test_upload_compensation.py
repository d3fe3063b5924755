"""An upload whose rows are not committed takes its stored objects back with it, in both versions.

The upload stores its image and thumbnail first, then writes the photo's row (and, with
an Idempotency-Key, the key's row) and commits. A trigger on the version's own database
makes one of those steps fail after both objects were stored: the insert of the photo,
the insert of the key, or the commit itself (a deferred trigger, run by COMMIT).
"""

from __future__ import annotations

import io

import pytest

from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.stores import execute_sql
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"
REFUSE = (
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
)
EACH_ROW = "FOR EACH ROW EXECUTE FUNCTION refuse()"
# The step that fails -> the trigger that fails it.
FAILING_STEPS = {
    "the photo's insert": f"CREATE TRIGGER refuse BEFORE INSERT ON photos {EACH_ROW}",
    "the key's insert": f"CREATE TRIGGER refuse BEFORE INSERT ON upload_requests {EACH_ROW}",
    # Deferred: it runs at COMMIT, once every statement has succeeded.
    "the commit": f"CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON photos INITIALLY DEFERRED {EACH_ROW}",
}


@pytest.mark.parametrize("step", FAILING_STEPS)
def test_an_upload_whose_rows_are_not_committed_removes_its_objects(
    api: ApiClient, stack: StackUnderTest, step: str
) -> None:
    token = api.user_with_token("alice")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "upload-1"}
    execute_sql(stack.photo_database_url, REFUSE)
    execute_sql(stack.photo_database_url, FAILING_STEPS[step])
    try:
        # A 500 is a defect by the contract's rules, so this one is not contract-checked.
        response = api.client.open("/api/v1/photos", method="POST", data=form(), headers=headers)
    finally:
        execute_sql(stack.photo_database_url, "DROP FUNCTION refuse() CASCADE")

    assert response.status_code == 500
    assert response.get_json()["type"] == PROBLEMS + "internal-error"
    assert stack.object_keys() == []
    assert stack.photo_count() == 0
    assert execute_sql(stack.photo_database_url, "SELECT count(*) FROM upload_requests") == 0
    # Neither spent nor held: the same key uploads anew once the rows can be written.
    retried = api.post("/api/v1/photos", data=form(), headers=headers)
    assert retried.status_code == 201
    assert len(stack.object_keys()) == 2


def form() -> dict[str, object]:
    """A multipart upload form with one image."""
    return {"file": (io.BytesIO(image_bytes()), "a.jpg")}
