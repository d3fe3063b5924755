"""Sync: changes made to the monolith after the backfill reach the services, objects included."""

from __future__ import annotations

from typing import Any

import pytest

from snappy_migration import sync as sync_module
from snappy_migration.backfill import backfill
from snappy_migration.errors import ConflictingRows, NotReady
from snappy_migration.objects import copy_objects
from snappy_migration.stores import open_stores
from snappy_migration.sync import measure_lag, sync
from snappy_migration.verify import verify
from tests.migration.data.conftest import (
    MigrationStores,
    execute,
    interrupt,
    put_objects,
    seed_monolith,
    source_snapshot,
    start_to_interrupt,
    target_snapshot,
    wait_for,
)

NEW_PHOTO = (
    "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
    " object_key, thumbnail_key) VALUES (%s, %s, 'public', 'image/png', 1, 1, 4, %s, %s) RETURNING id"
)


def add_photo(stores: MigrationStores, owner: int, caption: str) -> int:
    keys = (f"photos/new/{caption}", f"thumbnails/new/{caption}")
    put_objects(stores, dict.fromkeys(keys, caption.encode()))
    photo_id: int = execute(stores.source_url, NEW_PHOTO, (owner, caption, *keys))[0][0]
    return photo_id


@pytest.fixture
def backfilled(stores: MigrationStores) -> MigrationStores:
    seed_monolith(stores, users=20, photos=30, shares=25)
    with open_stores(stores.endpoints) as opened:
        backfill(opened)
    return stores


def test_inserts_updates_and_deletes_after_the_backfill_arrive(backfilled: MigrationStores) -> None:
    stores = backfilled
    execute(
        stores.source_url,
        "INSERT INTO users (username, display_name, password_hash) VALUES ('late', 'L', 'x')",
    )
    execute(stores.source_url, "UPDATE photos SET caption = 'edited', visibility = 'public' WHERE id = 3")
    execute(stores.source_url, "DELETE FROM shares WHERE id = (SELECT min(id) FROM shares)")
    new_photo = add_photo(stores, owner=2, caption="fresh")
    execute(stores.source_url, "INSERT INTO shares (photo_id, user_id) VALUES (%s, 5)", (new_photo,))

    with open_stores(stores.endpoints) as opened:
        summary = sync(opened)
        assert measure_lag(opened.source).entries == 0
        report = verify(opened)

    assert summary.entries == 5
    assert report.ok, report
    assert source_snapshot(stores) == target_snapshot(stores)


def test_a_deleted_photo_takes_its_shares_and_objects_with_it(backfilled: MigrationStores) -> None:
    stores = backfilled
    keys = execute(stores.source_url, "SELECT object_key, thumbnail_key FROM photos WHERE id = 4")[0]
    execute(stores.source_url, "DELETE FROM photos WHERE id = 4")
    stores.s3().delete_objects(
        Bucket=stores.source_bucket, Delete={"Objects": [{"Key": key} for key in keys]}
    )

    with open_stores(stores.endpoints) as opened:
        sync(opened)

    assert execute(stores.photos_url, "SELECT count(*) FROM photos WHERE id = 4") == [(0,)]
    assert execute(stores.photos_url, "SELECT count(*) FROM shares WHERE photo_id = 4") == [(0,)]
    target_keys = {row[0] for row in target_snapshot(stores)["objects"]}
    assert not target_keys & set(keys)


def test_a_photo_deleted_while_its_objects_are_copied_leaves_no_copy_behind(
    backfilled: MigrationStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its original copied, its thumbnail already gone: the copy made for nothing is removed,
    and the share read with it in the same batch (gone too, by cascade) is not written."""
    stores = backfilled
    photo_id = add_photo(stores, owner=2, caption="short-lived")
    execute(stores.source_url, "INSERT INTO shares (photo_id, user_id) VALUES (%s, 5)", (photo_id,))
    keys = execute(
        stores.source_url, "SELECT object_key, thumbnail_key FROM photos WHERE id = %s", (photo_id,)
    )[0]

    def delete_between_read_and_copy(*args: Any, **kwargs: Any) -> list[str]:
        # The monolith deletes the photo after sync read its row: the row first, then the
        # objects, and the copy sees the original still there and the thumbnail gone.
        execute(stores.source_url, "DELETE FROM photos WHERE id = %s", (photo_id,))
        stores.s3().delete_object(Bucket=stores.source_bucket, Key=keys[1])
        absent: list[str] = copy_objects(*args, **kwargs)
        stores.s3().delete_object(Bucket=stores.source_bucket, Key=keys[0])
        return absent

    monkeypatch.setattr(sync_module, "copy_objects", delete_between_read_and_copy)
    with open_stores(stores.endpoints) as opened:
        sync(opened)
    monkeypatch.setattr(sync_module, "copy_objects", copy_objects)
    with open_stores(stores.endpoints) as opened:
        sync(opened)
        report = verify(opened)

    target_keys = {row[0] for row in target_snapshot(stores)["objects"]}
    assert not target_keys & set(keys)
    assert execute(stores.photos_url, "SELECT count(*) FROM shares WHERE photo_id = %s", (photo_id,)) == [
        (0,)
    ]
    assert report.ok, report


def test_a_share_revoked_and_made_again_in_one_batch_does_not_collide(backfilled: MigrationStores) -> None:
    stores = backfilled
    photo_id, user_id = execute(
        stores.source_url, "SELECT photo_id, user_id FROM shares ORDER BY id LIMIT 1"
    )[0]
    execute(stores.source_url, "DELETE FROM shares WHERE photo_id = %s AND user_id = %s", (photo_id, user_id))
    execute(stores.source_url, "INSERT INTO shares (photo_id, user_id) VALUES (%s, %s)", (photo_id, user_id))

    with open_stores(stores.endpoints) as opened:
        sync(opened)
        report = verify(opened)

    assert report.ok, report


def test_applying_the_same_changes_twice_changes_nothing(backfilled: MigrationStores) -> None:
    stores = backfilled
    execute(stores.source_url, "UPDATE users SET display_name = 'Twice' WHERE id = 1")
    add_photo(stores, owner=1, caption="twice")
    pending = execute(stores.source_url, "SELECT table_name, row_id, operation FROM change_log ORDER BY id")
    with open_stores(stores.endpoints) as opened:
        sync(opened)
        once = target_snapshot(stores)
        # As after a crash between applying a batch and deleting its entries.
        for entry in pending:
            execute(
                stores.source_url,
                "INSERT INTO change_log (table_name, row_id, operation) VALUES (%s, %s, %s)",
                entry,
            )
        sync(opened)

    assert target_snapshot(stores) == once


def test_many_batches_apply_in_order(backfilled: MigrationStores) -> None:
    stores = backfilled
    for round_number in range(30):
        execute(
            stores.source_url, "UPDATE users SET display_name = %s WHERE id = 1", (f"round {round_number}",)
        )
        execute(stores.source_url, "UPDATE photos SET caption = %s WHERE id = 1", (f"round {round_number}",))

    with open_stores(stores.endpoints) as opened:
        summary = sync(opened, batch_entries=7)

    assert summary.entries == 60
    assert execute(stores.users_url, "SELECT display_name FROM users WHERE id = 1") == [("round 29",)]
    assert execute(stores.photos_url, "SELECT caption FROM photos WHERE id = 1") == [("round 29",)]


def test_sync_before_the_backfill_finished_is_refused(stores: MigrationStores) -> None:
    seed_monolith(stores, users=3, photos=0, shares=0)

    with (
        open_stores(stores.endpoints) as opened,
        pytest.raises(NotReady, match="run `snappy migrate backfill`"),
    ):
        sync(opened)


SIGN_UP = "INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, 'x') RETURNING id"


def sign_up_on_both_sides(stores: MigrationStores, monolith_username: str) -> int:
    """A user "on_the_service" on user-service and one on the monolith after the backfill: one id for both."""
    theirs = execute(stores.users_url, SIGN_UP, ("on_the_service", "Mine"))[0][0]
    ours = execute(stores.source_url, SIGN_UP, (monolith_username, "Yours"))[0][0]
    assert theirs == ours  # Both sequences were at the same place: the ids collide.
    return int(ours)


def test_a_row_a_service_wrote_under_a_monolith_id_is_a_conflict_not_overwritten(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    ours = sign_up_on_both_sides(stores, "on_the_monolith")

    with (
        open_stores(stores.endpoints) as opened,
        pytest.raises(ConflictingRows, match=rf"did not write.*ids {ours}"),
    ):
        sync(opened)

    assert execute(stores.users_url, "SELECT username FROM users WHERE id = %s", (ours,)) == [
        ("on_the_service",)
    ]
    assert execute(stores.source_url, "SELECT count(*) FROM change_log") == [(1,)]


def test_a_username_a_service_took_is_a_conflict_named_by_its_value(backfilled: MigrationStores) -> None:
    stores = backfilled
    execute(stores.users_url, "SELECT setval('users_id_seq', 500)")
    execute(stores.users_url, SIGN_UP, ("clash", "Mine"))
    execute(stores.source_url, SIGN_UP, ("clash", "Yours"))

    with (
        open_stores(stores.endpoints) as opened,
        pytest.raises(ConflictingRows, match=r"\(username\)=\(clash\)"),
    ):
        sync(opened)

    assert execute(stores.users_url, "SELECT display_name FROM users WHERE username = 'clash'") == [("Mine",)]


def test_rows_sync_inserted_are_its_own_to_update_later(backfilled: MigrationStores) -> None:
    stores = backfilled
    user_id = execute(stores.source_url, SIGN_UP, ("newcomer", "First"))[0][0]
    with open_stores(stores.endpoints) as opened:
        sync(opened)
        execute(stores.source_url, "UPDATE users SET display_name = 'Second' WHERE id = %s", (user_id,))
        sync(opened)

    assert execute(stores.users_url, "SELECT display_name FROM users WHERE id = %s", (user_id,)) == [
        ("Second",)
    ]


def test_a_monolith_row_gone_before_it_was_synced_leaves_the_services_row_of_that_id_alone(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    shared_id = sign_up_on_both_sides(stores, "short_lived")
    execute(stores.source_url, "DELETE FROM users WHERE id = %s", (shared_id,))

    with open_stores(stores.endpoints) as opened:
        summary = sync(opened)

    assert summary.entries == 2
    assert execute(stores.users_url, "SELECT username FROM users WHERE id = %s", (shared_id,)) == [
        ("on_the_service",)
    ]


def test_sync_follow_applies_new_changes_as_they_come_until_ctrl_c(backfilled: MigrationStores) -> None:
    stores = backfilled
    process = start_to_interrupt(stores, "sync", "--follow")
    try:
        execute(stores.source_url, "UPDATE users SET display_name = 'Followed' WHERE id = 2")
        # Sync deletes an entry once its change is applied: then it waits for the next one.
        wait_for(
            lambda: execute(stores.source_url, "SELECT count(*) FROM change_log") == [(0,)],
            "the change to be applied",
        )
    finally:
        output, errors = interrupt(process)

    assert execute(stores.users_url, "SELECT display_name FROM users WHERE id = 2") == [("Followed",)]
    assert "Following the change log" in output
    assert process.returncode == 130, errors
    assert "interrupted" in errors
