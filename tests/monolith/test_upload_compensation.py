"""An upload whose row cannot be written takes its stored objects back with it."""

from __future__ import annotations

from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.stores import execute_sql
from tests.support.versions import StackUnderTest


def test_an_upload_whose_row_cannot_be_written_removes_its_objects(
    monolith_api: ApiClient, monolith_stack: StackUnderTest
) -> None:
    token = monolith_api.user_with_token("alice")
    # The user disappears after the token was issued: the insert violates the foreign
    # key after both objects were stored, a real database failure at the worst moment.
    execute_sql(monolith_stack.photo_database_url, "DELETE FROM users WHERE username = 'alice'")

    response = monolith_api.upload(token, image_bytes())

    assert response.status_code == 401
    assert monolith_stack.object_keys() == []
    assert monolith_stack.photo_count() == 0
