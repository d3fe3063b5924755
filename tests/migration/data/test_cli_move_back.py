"""`snappy migrate move-back --group G` as an operator (or a cluster's Job) runs it.

Real PostgreSQL and real S3, the tool as a process of its own: the monolith's data is
backfilled into the services, the ownership phase moves forward, the services take writes,
and the command brings them back while the phase still gives the group to its service.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from snappy_migration.backfill import backfill
from snappy_migration.stores import open_stores
from snappy_monolith.ownership import read_ownership_phase, set_ownership_phase
from snappy_monolith.passwords import verify_password
from snappy_user_service.passwords import hash_password
from tests.migration.data.conftest import (
    MigrationStores,
    execute,
    run_migrate,
    seed_monolith,
    source_snapshot,
)
from tests.migration.data.test_cli import MIGRATION_LOCK, PROG, refusal
from tests.migration.data.test_move_back import NEW_PHOTO, NEW_USER, object_bytes


@pytest.fixture
def backfilled(stores: MigrationStores) -> MigrationStores:
    """A monolith with data, copied whole into the services (rows and objects)."""
    seed_monolith(stores, users=6, photos=8, shares=6)
    with open_stores(stores.endpoints) as opened:
        backfill(opened)
    return stores


def move_back(stores: MigrationStores, group: str, report: Path) -> tuple[int, str]:
    """Run `move-back --group <group>`, its report written to `report`; the exit status and stdout."""
    result = run_migrate(stores, "--report", str(report), "move-back", "--group", group)
    # stderr carries the progress bars only; a refusal is tested on its own.
    assert f"{PROG} move-back:" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def test_photos_written_in_phase_2_come_back_and_verify_at_phase_1(
    backfilled: MigrationStores, tmp_path: Path
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 2)
    s3 = stores.s3()
    # Phase 2: a newcomer signs up on user-service and uploads on photo-service; a photo goes.
    newcomer = execute(stores.users_url, NEW_USER, ("newcomer", "New Comer", hash_password("pw-newcomer")))[
        0
    ][0]
    s3.put_object(Bucket=stores.target_bucket, Key="photos/p2-new", Body=b"new original")
    s3.put_object(Bucket=stores.target_bucket, Key="thumbnails/p2-new", Body=b"new thumbnail")
    uploaded = execute(
        stores.photos_url,
        NEW_PHOTO,
        (newcomer, "uploaded in phase 2", 12, "photos/p2-new", "thumbnails/p2-new"),
    )[0][0]
    execute(stores.photos_url, "UPDATE photos SET caption = 'edited in phase 2' WHERE id = 2")
    deleted, *deleted_keys = execute(
        stores.photos_url,
        "DELETE FROM photos WHERE id = (SELECT min(id) FROM photos AS p WHERE id <> 2"
        " AND NOT EXISTS (SELECT 1 FROM shares WHERE photo_id = p.id))"
        " RETURNING id, object_key, thumbnail_key",
    )[0]
    s3.delete_objects(Bucket=stores.target_bucket, Delete={"Objects": [{"Key": key} for key in deleted_keys]})

    status, printed = move_back(stores, "photos", tmp_path / "report.json")

    assert status == 0, printed
    assert (
        "Move back of photos done: rows written: users 1, photos 2; rows deleted: photos 1;"
        " objects copied: 2, deleted: 2." in printed
    )
    assert "phase     1: photos, shares compared as the monolith's again" in printed
    assert "Verification passed: no differences." in printed
    assert "The ownership phase is still 2: record phase 1 next" in printed
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["ok"] is True
    # The data is the monolith's again; the ownership phase is left for its own Job.
    assert read_ownership_phase(stores.source_url) == 2
    assert execute(stores.source_url, "SELECT owner_id, caption FROM photos WHERE id = %s", (uploaded,)) == [
        (newcomer, "uploaded in phase 2")
    ]
    assert execute(stores.source_url, "SELECT caption FROM photos WHERE id = 2") == [("edited in phase 2",)]
    assert execute(stores.source_url, "SELECT id FROM photos WHERE id = %s", (deleted,)) == []
    assert object_bytes(stores, stores.source_bucket, "photos/p2-new") == b"new original"
    assert all(object_bytes(stores, stores.source_bucket, key) is None for key in deleted_keys)

    again, printed_again = move_back(stores, "photos", tmp_path / "again.json")

    assert again == 0, printed_again
    assert "Move back of photos done: nothing to move back" in printed_again
    assert "Verification passed: no differences." in printed_again


def test_users_written_in_phase_1_come_back_and_verify_at_phase_0(
    backfilled: MigrationStores, tmp_path: Path
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    newcomer = execute(stores.users_url, NEW_USER, ("newcomer", "New Comer", hash_password("pw-newcomer")))[
        0
    ][0]
    execute(stores.users_url, "UPDATE users SET display_name = 'Renamed' WHERE id = 1")

    status, printed = move_back(stores, "users", tmp_path / "report.json")

    assert status == 0, printed
    assert "Move back of users done: rows written: users 2; rows deleted: none; objects copied: 0" in printed
    assert "phase     0: users compared as the monolith's again" in printed
    assert "Verification passed: no differences." in printed
    assert "The ownership phase is still 1: record phase 0 next" in printed
    assert read_ownership_phase(stores.source_url) == 1
    (password_hash,) = execute(
        stores.source_url, "SELECT password_hash FROM users WHERE id = %s", (newcomer,)
    )[0]
    assert verify_password(password_hash, "pw-newcomer")
    assert execute(stores.source_url, "SELECT display_name FROM users WHERE id = 1") == [("Renamed",)]

    again, printed_again = move_back(stores, "users", tmp_path / "again.json")

    assert again == 0, printed_again
    assert "Move back of users done: nothing to move back" in printed_again


@pytest.mark.parametrize(("phase", "group"), [(1, "photos"), (0, "users"), (0, "photos")])
def test_a_group_the_monolith_owns_is_refused_in_one_line_and_nothing_is_written(
    backfilled: MigrationStores, tmp_path: Path, phase: int, group: str
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, phase)
    # What a move back would carry, were it allowed: it must stay in the service only.
    execute(stores.users_url, "UPDATE users SET display_name = 'Only in the service' WHERE id = 1")
    execute(stores.photos_url, "UPDATE photos SET caption = 'Only in the service' WHERE id = 1")
    before = source_snapshot(stores)

    result = run_migrate(stores, "--report", str(tmp_path / "report.json"), "move-back", "--group", group)

    assert refusal(result) == (
        f"{PROG} move-back: the monolith owns {group} at phase {phase} already: nothing to move back"
        f" (moving back is for phases {1 if group == 'users' else 2} and above, before the phase is set"
        " lower; now it would overwrite what the monolith wrote since)"
    )
    assert result.stdout == ""
    assert source_snapshot(stores) == before
    assert not (tmp_path / "report.json").exists()
    assert read_ownership_phase(stores.source_url) == phase


def test_a_move_back_that_does_not_verify_exits_1_with_its_report(
    backfilled: MigrationStores, tmp_path: Path
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    # A photo naming a user user-service does not hold: the orphan check, run at every phase, fails.
    execute(stores.photos_url, NEW_PHOTO, (999_999, "orphaned", 4, "photos/orphan", "thumbnails/orphan"))

    status, printed = move_back(stores, "users", tmp_path / "report.json")

    assert status == 1, printed
    assert "Verification FAILED" in printed
    assert "The ownership phase is still" not in printed
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["ok"] is False


def test_a_move_back_waits_for_no_other_migration_writing(
    backfilled: MigrationStores, tmp_path: Path
) -> None:
    stores = backfilled
    set_ownership_phase(stores.source_url, 1)
    execute(stores.users_url, "UPDATE users SET display_name = 'Renamed' WHERE id = 1")
    with psycopg.connect(stores.source_url, autocommit=True, application_name="first-migration") as first:
        first.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))

        refused = run_migrate(stores, "move-back", "--group", "users")

    assert "another migration is writing from this monolith database" in refusal(refused)
    assert execute(stores.source_url, "SELECT display_name FROM users WHERE id = 1") != [("Renamed",)]
