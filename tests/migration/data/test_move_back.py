"""The way back: what users wrote in a service in phase N reaches the monolith, and verifies at N-1.

Real PostgreSQL and real S3: the monolith's data is backfilled into the services, the phase
moves forward, the services take writes (as their own code writes them: rows under their
own sequences, password hashes from user-service's hasher, objects in their bucket), and
`move_back` brings it all back while the phase still says N.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snappy_migration import reverse
from snappy_migration.backfill import backfill
from snappy_migration.errors import ConflictingRows, NotReady
from snappy_migration.objects import ObjectCopyFailed
from snappy_migration.phases import verify_at_phase
from snappy_migration.reverse import MovedBack, copy_objects_back, group_of, hand_over_state, move_back
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync
from snappy_monolith.ownership import set_ownership_phase
from snappy_monolith.passwords import verify_password
from snappy_monolith.user_directory import REFERENCE_PASSWORD_HASH
from snappy_user_service.passwords import hash_password
from tests.migration.data.conftest import MigrationStores, execute, put_objects, seed_monolith

NEW_PHOTO = (
    "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
    " object_key, thumbnail_key) VALUES (%s, %s, 'public', 'image/png', 1, 1, %s, %s, %s) RETURNING id"
)
NEW_USER = "INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, %s) RETURNING id"


@pytest.fixture
def backfilled(stores: MigrationStores) -> MigrationStores:
    """A monolith with data, copied whole into the services (rows and objects)."""
    seed_monolith(stores, users=8, photos=10, shares=8)
    with open_stores(stores.endpoints) as opened:
        backfill(opened)
    return stores


def change_log(stores: MigrationStores, table: str) -> int:
    count: int = execute(
        stores.source_url, "SELECT count(*) FROM change_log WHERE table_name = %s", (table,)
    )[0][0]
    return count


def object_bytes(stores: MigrationStores, bucket: str, key: str) -> bytes | None:
    client = stores.s3()
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return body


def test_groups_are_named_by_group_or_by_table() -> None:
    assert group_of("users") == "users"
    assert group_of("shares") == "photos"
    assert group_of("photos") == "photos"
    with pytest.raises(ValueError, match="unknown group 'feed'"):
        group_of("feed")


def test_the_reference_password_hash_is_the_monoliths() -> None:
    assert reverse.REFERENCE_PASSWORD_HASH == REFERENCE_PASSWORD_HASH


def test_users_written_in_user_service_come_back_and_verify_at_phase_0(backfilled: MigrationStores) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    # Phase 1: user-service signs a user up and changes a display name; a log-out revokes a token.
    newcomer = execute(
        stores.users_url, NEW_USER, ("newcomer", "New Comer", hash_password("newcomer-password"))
    )[0][0]
    execute(stores.users_url, "UPDATE users SET display_name = 'Renamed One' WHERE id = 1")
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    execute(stores.users_url, "INSERT INTO revoked_tokens VALUES ('logged-out', %s)", (in_an_hour,))
    execute(stores.users_url, "INSERT INTO revoked_tokens VALUES ('long-gone', now() - interval '1 day')")
    execute(stores.source_url, "INSERT INTO revoked_tokens VALUES ('before-phase-1', %s)", (in_an_hour,))
    execute(
        stores.users_url,
        "INSERT INTO login_throttle VALUES ('account', 'user_2', 5, now(), now() + interval '10 minutes')",
    )
    execute(
        stores.source_url,
        "INSERT INTO login_throttle VALUES ('address', '192.0.2.9', 1, now() - interval '2 days', NULL)",
    )
    # The monolith's photos (still its own) name the newcomer through a reference row.
    created_at = execute(stores.users_url, "SELECT created_at FROM users WHERE id = %s", (newcomer,))[0][0]
    execute(
        stores.source_url,
        "INSERT INTO users (id, username, display_name, password_hash, created_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (newcomer, "newcomer", "New Comer", REFERENCE_PASSWORD_HASH, created_at),
    )
    put_objects(stores, {"photos/p1-new": b"p1 original", "thumbnails/p1-new": b"p1 thumbnail"})
    execute(
        stores.source_url, NEW_PHOTO, (newcomer, "by the newcomer", 11, "photos/p1-new", "thumbnails/p1-new")
    )
    assert change_log(stores, "users") == 0

    with open_stores(stores.endpoints) as opened:
        # The cutover's final sync: the photos the monolith still owns reach photo-service.
        assert sync(opened).upserted == {"photos": 1}
        moved = move_back(opened, "users")
        again = move_back(opened, "users")
        # The cutover's order: verified before the flip, the phase still 1.
        report = verify_at_phase(opened, 0)
        set_ownership_phase(stores.source_url, 0)

    assert moved.rows_upserted == {"users": 2, "revoked_tokens": 1, "login_throttle": 1}
    assert moved.rows_deleted == {"users": 0, "revoked_tokens": 0, "login_throttle": 1}
    assert not again.changed_anything, again
    assert report.ok, report
    # Written while the phase said 1: no entry would send these rows back to user-service.
    assert change_log(stores, "users") == 0
    # The newcomer logs in on the monolith with the password chosen on user-service.
    (password_hash,) = execute(
        stores.source_url, "SELECT password_hash FROM users WHERE id = %s", (newcomer,)
    )[0]
    assert verify_password(password_hash, "newcomer-password")
    assert execute(stores.source_url, "SELECT display_name FROM users WHERE id = 1") == [("Renamed One",)]
    revoked = {row[0] for row in execute(stores.source_url, "SELECT token_id FROM revoked_tokens")}
    assert revoked == {"logged-out", "before-phase-1"}
    assert execute(stores.source_url, "SELECT scope, subject, failures FROM login_throttle") == [
        ("account", "user_2", 5)
    ]

    # The monolith writes users again: a new id past user-service's, and edits that sync forward.
    late = execute(stores.source_url, NEW_USER, ("late", "Late", hash_password("late-password")))[0][0]
    assert late > newcomer
    execute(stores.source_url, "UPDATE users SET display_name = 'Back Home' WHERE id = %s", (newcomer,))
    with open_stores(stores.endpoints) as opened:
        synced = sync(opened)
        after_sync = verify_at_phase(opened, 0)
    assert synced.upserted.get("users") == 2
    assert execute(stores.users_url, "SELECT display_name FROM users WHERE id = %s", (newcomer,)) == [
        ("Back Home",)
    ]
    assert after_sync.ok, after_sync


def test_photos_written_in_photo_service_come_back_with_their_objects(backfilled: MigrationStores) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 2)
    s3 = stores.s3()
    # Phase 2: a user signs up on user-service and uploads on photo-service.
    newcomer = execute(
        stores.users_url, NEW_USER, ("newcomer", "New Comer", hash_password("newcomer-password"))
    )[0][0]
    s3.put_object(Bucket=stores.target_bucket, Key="photos/p2-new", Body=b"new original bytes")
    s3.put_object(Bucket=stores.target_bucket, Key="thumbnails/p2-new", Body=b"new thumbnail")
    uploaded = execute(
        stores.photos_url,
        NEW_PHOTO,
        (newcomer, "uploaded in phase 2", 18, "photos/p2-new", "thumbnails/p2-new"),
    )[0][0]
    execute(
        stores.photos_url,
        "INSERT INTO upload_requests (owner_id, key, fingerprint, photo_id) VALUES (%s, 'retry-me', %s, %s)",
        (newcomer, "f" * 64, uploaded),
    )
    # ...edits a caption, shares the new photo, revokes a share, deletes a photo and its objects.
    execute(
        stores.photos_url,
        "UPDATE photos SET caption = 'edited in phase 2', visibility = 'public' WHERE id = 2",
    )
    shared = execute(
        stores.photos_url, "INSERT INTO shares (photo_id, user_id) VALUES (%s, 3) RETURNING id", (uploaded,)
    )[0][0]
    revoked_share = execute(
        stores.photos_url, "DELETE FROM shares WHERE id = (SELECT min(id) FROM shares) RETURNING id"
    )[0][0]
    deleted_photo, *deleted_keys = execute(
        stores.photos_url, "DELETE FROM photos WHERE id = 5 RETURNING id, object_key, thumbnail_key"
    )[0]
    s3.delete_objects(Bucket=stores.target_bucket, Delete={"Objects": [{"Key": key} for key in deleted_keys]})
    shares_of_deleted = execute(stores.source_url, "SELECT count(*) FROM shares WHERE photo_id = 5")[0][0]

    with open_stores(stores.endpoints) as opened:
        moved = move_back(opened, "photos")
        again = move_back(opened, "shares")
        report = verify_at_phase(opened, 1)
        set_ownership_phase(stores.source_url, 1)

    assert moved.rows_upserted == {"users": 1, "photos": 2, "shares": 1, "upload_requests": 1}
    assert moved.rows_deleted == {"shares": 1 + shares_of_deleted, "photos": 1, "upload_requests": 0}
    assert (moved.objects_copied, moved.objects_deleted) == (2, 2)
    assert not again.changed_anything, again
    assert report.ok, report
    assert report.objects is not None
    assert report.objects.ok
    assert change_log(stores, "photos") == change_log(stores, "shares") == change_log(stores, "users") == 0
    # Rows and bytes are back; the deletions stay deleted.
    assert object_bytes(stores, stores.source_bucket, "photos/p2-new") == b"new original bytes"
    assert object_bytes(stores, stores.source_bucket, "thumbnails/p2-new") == b"new thumbnail"
    assert execute(stores.source_url, "SELECT owner_id, key, photo_id FROM upload_requests") == [
        (newcomer, "retry-me", uploaded)
    ]
    assert execute(stores.source_url, "SELECT caption, visibility FROM photos WHERE id = 2") == [
        ("edited in phase 2", "public")
    ]
    assert execute(
        stores.source_url, "SELECT id FROM shares WHERE id IN (%s, %s)", (shared, revoked_share)
    ) == [(shared,)]
    assert execute(stores.source_url, "SELECT id FROM photos WHERE id = %s", (deleted_photo,)) == []
    assert all(object_bytes(stores, stores.source_bucket, key) is None for key in deleted_keys)
    # user-service still owns users: the newcomer is a reference row, not an account here.
    assert execute(stores.source_url, "SELECT password_hash FROM users WHERE id = %s", (newcomer,)) == [
        (REFERENCE_PASSWORD_HASH,)
    ]

    # The monolith writes photos again: a new id past photo-service's, and edits that sync forward.
    s3.put_object(Bucket=stores.source_bucket, Key="photos/p1-after", Body=b"after")
    s3.put_object(Bucket=stores.source_bucket, Key="thumbnails/p1-after", Body=b"after")
    after = execute(
        stores.source_url, NEW_PHOTO, (1, "after the way back", 5, "photos/p1-after", "thumbnails/p1-after")
    )[0][0]
    assert after > uploaded
    execute(stores.source_url, "UPDATE photos SET caption = 'edited back home' WHERE id = %s", (uploaded,))
    execute(stores.source_url, "DELETE FROM shares WHERE id = %s", (shared,))
    with open_stores(stores.endpoints) as opened:
        sync(opened)
        after_sync = verify_at_phase(opened, 1)
    assert execute(stores.photos_url, "SELECT caption FROM photos WHERE id = %s", (uploaded,)) == [
        ("edited back home",)
    ]
    assert execute(stores.photos_url, "SELECT id FROM shares WHERE id = %s", (shared,)) == []
    assert after_sync.ok, after_sync


def test_objects_copied_back_before_the_freeze_leave_the_freeze_only_the_photos_changed_since(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 2)
    s3 = stores.s3()

    def upload_in_photo_service(name: str) -> tuple[int, list[str]]:
        keys = [f"photos/{name}", f"thumbnails/{name}"]
        for key in keys:
            s3.put_object(Bucket=stores.target_bucket, Key=key, Body=f"{key} bytes".encode())
        photo = execute(stores.photos_url, NEW_PHOTO, (1, name, 9, *keys))[0][0]
        return photo, keys

    early, early_keys = upload_in_photo_service("early")
    with open_stores(stores.endpoints) as opened:
        copied = copy_objects_back(opened)
    assert set(early_keys) <= copied
    assert object_bytes(stores, stores.source_bucket, early_keys[0]) == b"photos/early bytes"

    # Between the copy and the freeze: the early photo is deleted, a late one uploaded.
    execute(stores.photos_url, "DELETE FROM photos WHERE id = %s", (early,))
    s3.delete_objects(Bucket=stores.target_bucket, Delete={"Objects": [{"Key": key} for key in early_keys]})
    late, late_keys = upload_in_photo_service("late")

    with open_stores(stores.endpoints) as opened:
        moved = move_back(opened, "photos", objects_copied_before=copied)
        report = verify_at_phase(opened, 1, objects_settled=copied)

    # Only the late photo's objects moved in the freeze; the early copies went with their photo.
    assert (moved.objects_copied, moved.objects_deleted) == (2, 2)
    assert all(object_bytes(stores, stores.source_bucket, key) is None for key in early_keys)
    assert object_bytes(stores, stores.source_bucket, late_keys[1]) == b"thumbnails/late bytes"
    assert execute(stores.source_url, "SELECT id FROM photos WHERE id IN (%s, %s)", (early, late)) == [
        (late,)
    ]
    assert report.ok, report
    assert report.objects is not None
    assert report.objects.checked == 2


def test_moving_back_a_group_the_monolith_owns_already_is_refused(backfilled: MigrationStores) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    with open_stores(stores.endpoints) as opened:
        with pytest.raises(NotReady, match="the monolith owns photos at phase 1 already"):
            move_back(opened, "photos")
        set_ownership_phase(stores.source_url, 0)
        with pytest.raises(NotReady, match="the monolith owns users at phase 0 already"):
            move_back(opened, "users")


def test_a_monolith_user_the_service_lacks_and_photos_name_stops_the_move_before_any_write(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    execute(stores.users_url, "UPDATE users SET display_name = 'Changed' WHERE id = 2")
    owner = execute(stores.source_url, "SELECT owner_id FROM photos ORDER BY id LIMIT 1")[0][0]
    execute(stores.users_url, "DELETE FROM users WHERE id = %s", (owner,))
    before = execute(stores.source_url, "SELECT id, display_name FROM users ORDER BY id")
    with (
        open_stores(stores.endpoints) as opened,
        pytest.raises(ConflictingRows, match=f"users {owner} are not"),
    ):
        move_back(opened, "users")
    assert execute(stores.source_url, "SELECT id, display_name FROM users ORDER BY id") == before


def test_a_photo_whose_object_photo_service_lacks_stops_the_move_before_any_write(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 2)
    execute(stores.photos_url, NEW_PHOTO, (1, "objects lost", 4, "photos/lost", "thumbnails/lost"))
    before = execute(stores.source_url, "SELECT id, caption FROM photos ORDER BY id")
    with open_stores(stores.endpoints) as opened, pytest.raises(ObjectCopyFailed, match="photos/lost"):
        move_back(opened, "photos")
    assert execute(stores.source_url, "SELECT id, caption FROM photos ORDER BY id") == before


def test_a_second_run_reports_nothing_to_do(backfilled: MigrationStores) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 2)
    with open_stores(stores.endpoints) as opened:
        first = move_back(opened, "photos")
        second = move_back(opened, "photos")
    assert first == MovedBack(
        "photos",
        {"users": 0, "photos": 0, "shares": 0, "upload_requests": 0},
        {"shares": 0, "photos": 0, "upload_requests": 0},
        0,
        0,
    )
    assert second == first


def test_the_monoliths_revocations_throttle_and_upload_keys_are_handed_over_at_the_cutover_forward(
    backfilled: MigrationStores,
) -> None:
    stores = backfilled
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    # Phase 0: a log-out on the monolith, a blocked guesser, an upload with an Idempotency-Key.
    execute(
        stores.source_url, "INSERT INTO revoked_tokens VALUES ('logged-out-in-phase-0', %s)", (in_an_hour,)
    )
    execute(stores.source_url, "INSERT INTO revoked_tokens VALUES ('long-gone', now() - interval '1 day')")
    execute(
        stores.source_url,
        "INSERT INTO login_throttle VALUES ('address', '192.0.2.7', 5, now(), now() + interval '10 minutes')",
    )
    execute(stores.users_url, "INSERT INTO login_throttle VALUES ('account', 'stale', 1, now(), NULL)")
    execute(
        stores.source_url,
        "INSERT INTO upload_requests (owner_id, key, fingerprint, photo_id) VALUES (1, 'sent-twice', %s, 1)",
        ("a" * 64,),
    )
    with open_stores(stores.endpoints) as opened:
        users = hand_over_state(opened, "users")
        photos = hand_over_state(opened, "photos")
        again = hand_over_state(opened, "users")
        set_ownership_phase(stores.source_url, 1)
        with pytest.raises(NotReady, match="user-service owns users at phase 1 already"):
            hand_over_state(opened, "users")

    assert users.rows_upserted == {"revoked_tokens": 1, "login_throttle": 1}
    assert users.rows_deleted == {"revoked_tokens": 0, "login_throttle": 1}
    assert photos.rows_upserted == {"upload_requests": 1}
    assert again.rows_upserted == {"revoked_tokens": 0, "login_throttle": 0}
    assert again.rows_deleted == {"revoked_tokens": 0, "login_throttle": 0}
    assert execute(stores.users_url, "SELECT token_id FROM revoked_tokens") == [("logged-out-in-phase-0",)]
    assert execute(stores.users_url, "SELECT scope, subject, failures FROM login_throttle") == [
        ("address", "192.0.2.7", 5)
    ]
    assert execute(stores.photos_url, "SELECT owner_id, key, photo_id FROM upload_requests") == [
        (1, "sent-twice", 1)
    ]
