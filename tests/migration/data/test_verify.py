"""Verify: a clean migration has no difference, and each kind of tampering is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snappy_migration.backfill import backfill
from snappy_migration.phases import verify_at_phase
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync
from snappy_migration.verify import CHUNK_IDS, VerifyReport, check_objects, render, verify
from tests.migration.data.conftest import MigrationStores, execute, run_migrate, seed_monolith

NEW_USER = "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, 'Extra', 'x')"
NEW_USER_AT_NEW_YEAR = (
    "INSERT INTO users (id, username, display_name, password_hash, created_at)"
    " VALUES (%s, %s, 'Extra', 'x', '2026-01-01T00:00:00Z')"
)
NEW_PHOTO = (
    "INSERT INTO photos (id, owner_id, caption, visibility, content_type, width, height, size_bytes,"
    " object_key, thumbnail_key) VALUES (%s, %s, 'extra', 'private', 'image/png', 1, 1, 1, %s, %s)"
)


@pytest.fixture
def migrated(stores: MigrationStores) -> MigrationStores:
    seed_monolith(stores, users=40, photos=60, shares=50)
    with open_stores(stores.endpoints) as opened:
        backfill(opened, chunk_rows=16)
    return stores


def test_a_clean_migration_verifies_with_no_difference(migrated: MigrationStores, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"

    result = run_migrate(migrated, "--report", str(report_path), "verify")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification passed" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert [table["source_rows"] for table in report["tables"]] == [
        40,
        60,
        report["tables"][2]["target_rows"],
    ]
    assert report["objects"]["checked"] == 120


def test_a_changed_a_missing_and_an_extra_row_per_table_and_a_missing_object_are_each_reported(
    migrated: MigrationStores, tmp_path: Path
) -> None:
    stores = migrated
    share_ids = [row[0] for row in execute(stores.photos_url, "SELECT id FROM shares ORDER BY id")]
    photo_of_missing_share = execute(
        stores.photos_url, "SELECT photo_id FROM shares WHERE id = %s", (share_ids[1],)
    )
    # Users: one changed, one missing, one extra.
    execute(stores.users_url, "UPDATE users SET display_name = 'Tampered' WHERE id = 3")
    execute(stores.users_url, "DELETE FROM users WHERE id = 4")
    execute(stores.users_url, NEW_USER, (90_001, "intruder"))
    # Photos: one changed, one missing (a photo with no shares, so no share goes with it), one extra.
    unshared = execute(
        stores.photos_url,
        "SELECT min(id) FROM photos WHERE id NOT IN (SELECT photo_id FROM shares) AND id > 10",
    )[0][0]
    execute(stores.photos_url, "UPDATE photos SET caption = 'Tampered' WHERE id = 5")
    execute(stores.photos_url, "DELETE FROM photos WHERE id = %s", (unshared,))
    execute(stores.photos_url, NEW_PHOTO, (90_002, 1, "extra/o", "extra/t"))
    # Shares: one changed, one missing, one extra.
    execute(
        stores.photos_url,
        "UPDATE shares SET created_at = created_at + interval '1 second' WHERE id = %s",
        (share_ids[0],),
    )
    execute(stores.photos_url, "DELETE FROM shares WHERE id = %s", (share_ids[1],))
    execute(stores.photos_url, "INSERT INTO shares (id, photo_id, user_id) VALUES (90003, 1, 2)")
    # One object missing from the target bucket, its photo still there.
    missing_key = execute(stores.photos_url, "SELECT object_key FROM photos WHERE id = 7")[0][0]
    stores.s3().delete_object(Bucket=stores.target_bucket, Key=missing_key)
    report_path = tmp_path / "report.json"

    result = run_migrate(stores, "--report", str(report_path), "verify")

    assert result.returncode == 1
    report = json.loads(report_path.read_text())
    assert report["ok"] is False
    tables = {table["table"]: table for table in report["tables"]}
    assert (tables["users"]["changed"], tables["users"]["missing"], tables["users"]["extra"]) == (
        [3],
        [4],
        [90_001],
    )
    assert (tables["photos"]["changed"], tables["photos"]["missing"], tables["photos"]["extra"]) == (
        [5],
        [unshared],
        [90_002],
    )
    assert (tables["shares"]["changed"], tables["shares"]["missing"], tables["shares"]["extra"]) == (
        [share_ids[0]],
        [share_ids[1]],
        [90_003],
    )
    # The deleted user still owns photos and receives shares on photo-service: orphans.
    orphans = {check["check"]: check["orphans"] for check in report["orphans"]}
    assert 4 in orphans["photos.owner_id -> users.id"] or 4 in orphans["shares.user_id -> users.id"]
    objects = report["objects"]
    # The extra photo names objects that exist nowhere; the missing photo's objects are left behind.
    assert sorted(objects["missing"]) == sorted([missing_key, "extra/o", "extra/t"])
    assert sorted(objects["extra"]) == sorted(
        execute(stores.source_url, "SELECT object_key, thumbnail_key FROM photos WHERE id = %s", (unshared,))[
            0
        ]
    )
    assert objects["missing_in_source"] == []
    assert photo_of_missing_share  # the share existed before it was removed
    for named in ("changed ids: 3", "missing ids: 4", "extra ids: 90001", missing_key, "Verification FAILED"):
        assert named in result.stdout


def test_a_changed_object_is_reported_as_different(migrated: MigrationStores) -> None:
    stores = migrated
    key = execute(stores.photos_url, "SELECT thumbnail_key FROM photos WHERE id = 2")[0][0]
    stores.s3().put_object(Bucket=stores.target_bucket, Key=key, Body=b"not the thumbnail")

    with open_stores(stores.endpoints) as opened:
        report = verify(opened)

    assert report.objects is not None
    assert report.objects.different == [key]
    assert not report.ok


def test_objects_checked_before_are_skipped_and_only_keys_named_since_are_compared_by_head(
    migrated: MigrationStores,
) -> None:
    stores = migrated
    with open_stores(stores.endpoints) as opened:
        before = check_objects(opened)
    named = execute(stores.photos_url, "SELECT count(*) * 2 FROM photos")[0][0]
    assert before.inventory.ok
    assert len(before.equal_keys) == before.inventory.checked == named

    # A photo uploaded since: its objects reach photo-service's bucket with the sync, one of
    # them damaged on the way.
    execute(stores.source_url, NEW_PHOTO, (900, 1, "photos/late", "thumbnails/late"))
    client = stores.s3()
    for key in ("photos/late", "thumbnails/late"):
        client.put_object(Bucket=stores.source_bucket, Key=key, Body=b"late bytes")
    with open_stores(stores.endpoints) as opened:
        sync(opened)
        client.put_object(Bucket=stores.target_bucket, Key="thumbnails/late", Body=b"damaged")
        scoped = verify_at_phase(opened, 0, objects_settled=before.equal_keys)

    assert scoped.objects is not None
    # Only the two new keys were looked at, and the damaged one is named.
    assert scoped.objects.checked == 2
    assert scoped.objects.different == ["thumbnails/late"]
    assert not scoped.ok


def test_ids_in_far_apart_chunks_are_compared_chunk_by_chunk(migrated: MigrationStores) -> None:
    stores = migrated
    far = 5 * CHUNK_IDS + 3
    for url in (stores.source_url, stores.users_url):
        execute(url, NEW_USER_AT_NEW_YEAR, (far, "far_away"))
    execute(stores.source_url, "DELETE FROM change_log")

    with open_stores(stores.endpoints) as opened:
        report = verify(opened, with_objects=False)

    users = report.tables[0]
    assert users.ok
    assert users.chunks == 2
    assert users.differing_chunks == 0


def test_render_names_every_difference_and_the_verdict() -> None:
    report = VerifyReport(tables=[], orphans=[], objects=None, pending_changes=3)

    text = render(report)

    assert "objects   not checked" in text
    assert "3 changes not synced yet" in text
    assert text.endswith("Verification passed: no differences.")
