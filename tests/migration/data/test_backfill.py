"""Backfill: every row and object arrives, ids and all, and a second run changes nothing."""

from __future__ import annotations

import psycopg
import pytest

from snappy_migration.backfill import backfill
from snappy_migration.errors import ConflictingRows
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync
from snappy_migration.verify import verify
from tests.migration.data.conftest import (
    MigrationStores,
    execute,
    put_objects,
    run_migrate,
    seed_monolith,
    source_snapshot,
    target_snapshot,
)


def test_backfill_copies_every_row_with_its_id_and_every_object(stores: MigrationStores) -> None:
    seed_monolith(stores, users=120, photos=150, shares=200)

    with open_stores(stores.endpoints) as opened:
        summary = backfill(opened, chunk_rows=40)
        report = verify(opened)

    assert source_snapshot(stores) == target_snapshot(stores)
    assert summary.rows == {"users": 120, "photos": 150, "shares": len(target_snapshot(stores)["shares"])}
    assert summary.objects == 300
    assert report.ok, report


def test_the_services_hand_out_ids_after_the_migrated_ones(stores: MigrationStores) -> None:
    seed_monolith(stores, users=30, photos=20, shares=10)
    with open_stores(stores.endpoints) as opened:
        backfill(opened)

    new_user = execute(
        stores.users_url,
        "INSERT INTO users (username, display_name, password_hash) VALUES ('after', 'After', 'x')"
        " RETURNING id",
    )[0][0]
    new_photo = execute(
        stores.photos_url,
        "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
        " object_key, thumbnail_key) VALUES (1, '', 'private', 'image/png', 1, 1, 1, 'new-o', 'new-t')"
        " RETURNING id",
    )[0][0]

    assert new_user == 31
    assert new_photo == 21


def test_a_second_backfill_changes_nothing(stores: MigrationStores) -> None:
    seed_monolith(stores, users=50, photos=60, shares=40)
    with open_stores(stores.endpoints) as opened:
        backfill(opened, chunk_rows=25)
    first = target_snapshot(stores)
    row_versions = execute(stores.users_url, "SELECT xmin::text FROM users ORDER BY id")

    with open_stores(stores.endpoints) as opened:
        summary = backfill(opened, chunk_rows=25)

    assert target_snapshot(stores) == first
    assert execute(stores.users_url, "SELECT xmin::text FROM users ORDER BY id") == row_versions
    assert summary.rows == {}
    assert summary.objects == 0


def test_without_checkpoints_rows_equal_to_the_sources_are_accepted_not_copied_twice(
    stores: MigrationStores,
) -> None:
    seed_monolith(stores, users=40, photos=30, shares=20)
    with open_stores(stores.endpoints) as opened:
        backfill(opened, chunk_rows=15)
    first = target_snapshot(stores)
    for url in (stores.users_url, stores.photos_url):
        execute(url, "DROP SCHEMA snappy_migration CASCADE")

    with open_stores(stores.endpoints) as opened:
        backfill(opened, chunk_rows=15)

    assert target_snapshot(stores) == first


def test_a_target_row_that_differs_stops_the_backfill_and_nothing_is_overwritten(
    stores: MigrationStores,
) -> None:
    seed_monolith(stores, users=20, photos=5, shares=0)
    execute(
        stores.users_url,
        "INSERT INTO users (id, username, display_name, password_hash) VALUES (7, 'squatter', 'S', 'x')",
    )

    with open_stores(stores.endpoints) as opened, pytest.raises(ConflictingRows, match=r"users .*ids 7"):
        backfill(opened, chunk_rows=10)

    assert execute(stores.users_url, "SELECT id, username FROM users") == [(7, "squatter")]


def test_a_target_row_with_a_taken_username_is_a_conflict_named_by_its_value(stores: MigrationStores) -> None:
    seed_monolith(stores, users=5, photos=0, shares=0)
    execute(
        stores.users_url,
        "INSERT INTO users (id, username, display_name, password_hash) VALUES (900, 'user_3', 'Other', 'x')",
    )

    result = run_migrate(stores, "backfill")

    assert result.returncode == 2
    assert "(username)=(user_3) already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert execute(stores.users_url, "SELECT count(*) FROM users") == [(1,)]


def test_a_share_whose_photo_came_after_the_photos_pass_waits_for_sync(stores: MigrationStores) -> None:
    seed_monolith(stores, users=10, photos=10, shares=0)
    with open_stores(stores.endpoints) as opened:
        backfill(opened, chunk_rows=100, with_objects=False)
        # The photos are done; a photo and a share arrive before the shares are copied.
        for url in (stores.photos_url, stores.users_url):
            execute(url, "DELETE FROM snappy_migration.checkpoints WHERE stream = 'rows:shares'")
        execute(stores.photos_url, "UPDATE snappy_migration.checkpoints SET finished = true")
        late_photo = execute(
            stores.source_url,
            "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
            " object_key, thumbnail_key) SELECT 1, 'late', 'private', 'image/png', 1, 1, 1,"
            " object_key || '-late', thumbnail_key || '-late' FROM photos WHERE id = 1 RETURNING id",
        )[0][0]
        execute(stores.source_url, "INSERT INTO shares (photo_id, user_id) VALUES (%s, 2)", (late_photo,))
        late_keys = execute(
            stores.source_url, "SELECT object_key, thumbnail_key FROM photos WHERE id = %s", (late_photo,)
        )
        put_objects(stores, dict.fromkeys(late_keys[0], b"late"))

        summary = backfill(opened, with_objects=False)
        assert summary.deferred == {"shares": 1}
        assert execute(stores.photos_url, "SELECT count(*) FROM shares") == [(0,)]

        sync(opened)
        report = verify(opened, with_objects=False)

    assert report.ok, report
    assert execute(stores.photos_url, "SELECT photo_id, user_id FROM shares") == [(late_photo, 2)]


def test_a_photo_whose_object_is_missing_from_the_source_stops_the_backfill(stores: MigrationStores) -> None:
    seed_monolith(stores, users=3, photos=4, shares=0)
    key = execute(stores.source_url, "SELECT object_key FROM photos WHERE id = 2")[0][0]
    stores.s3().delete_object(Bucket=stores.source_bucket, Key=key)

    result = run_migrate(stores, "backfill")

    assert result.returncode == 2
    assert f"object '{key}' of a photo that still exists is missing" in result.stderr


def test_backfill_reads_only_committed_source_rows(stores: MigrationStores) -> None:
    seed_monolith(stores, users=5, photos=0, shares=0)
    with psycopg.connect(stores.source_url) as writer:
        writer.execute(
            "INSERT INTO users (username, display_name, password_hash) VALUES ('pending', 'P', 'x')"
        )
        with open_stores(stores.endpoints) as opened:
            backfill(opened)
        writer.rollback()

    assert execute(stores.users_url, "SELECT count(*) FROM users") == [(5,)]
