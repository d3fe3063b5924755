"""After the migration, users log in on the microservices with their existing passwords and
see exactly their photos, shares and feed.

A monolith under gunicorn, on stores of its own, gets its data the way users make it:
sign-ups, public and private uploads, shares, a caption edit, a revoked share and a
deleted photo. `snappy migrate run` then moves it into fresh databases and a fresh bucket,
and user-service, photo-service and the edge (phase 3) start on them. Every user must see
the same answers, byte for byte, on both versions, and the monolith's tokens keep working.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_devstack.processes import stop_process
from snappy_devstack.user_views import compare_user_views
from snappy_migration.cli import main as migrate_main
from tests.images import image_bytes
from tests.support.gunicorn import spawn_gunicorn
from tests.support.parts import spawn_microservices
from tests.support.provisioning import migrate
from tests.support.session import SESSION_SECRET, SIGNING_KEY_PEM
from tests.support.stores import execute_sql

# Each user's own password: the migration must carry every password hash over.
PASSWORDS = {
    "ada": "ada-long-password",
    "brian": "brian-long-password",
    "chloe": "chloe-long-password",
}
_TIMEOUT = 15.0


@dataclass(frozen=True)
class Migrated:
    """Both versions running on the same data: the monolith's, and the migrated copy of it."""

    monolith_url: str
    microservices_url: str
    photo_database_url: str
    # An access token the monolith issued to "ada" before the migration.
    token_from_before: str


@pytest.fixture(scope="module")
def migrated(backing: BackingServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    """A monolith with data, migrated into user-service and photo-service that run on the copy."""
    folder = tmp_path_factory.mktemp("users-after-migration")
    tag = secrets.token_hex(4)
    databases = {
        "monolith": f"snappy_moved_monolith_{tag}",
        "users": f"snappy_moved_users_{tag}",
        "photos": f"snappy_moved_photos_{tag}",
    }
    buckets = {"monolith": f"snappy-moved-monolith-{tag}", "photos": f"snappy-moved-photos-{tag}"}
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    log_path = folder / "servers.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = {
            role: create_database(backing.postgres_url, name, drop_existing=True)
            for role, name in databases.items()
        }
        migrate("snappy_monolith", urls["monolith"])
        migrate("snappy_user_service", urls["users"])
        migrate("snappy_photo_service", urls["photos"])
        for bucket in buckets.values():
            create_bucket(backing.s3, bucket)
        s3 = {
            "SNAPPY_S3_ENDPOINT_URL": backing.s3.endpoint_url,
            "SNAPPY_S3_REGION": backing.s3.region,
            "SNAPPY_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
            "SNAPPY_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
        }
        common = {**os.environ, "SNAPPY_THREADS": "4", "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file)}

        monolith_process, monolith_url = spawn_gunicorn(
            "snappy_monolith",
            {
                **common,
                **s3,
                "SNAPPY_DATABASE_URL": urls["monolith"],
                "SNAPPY_S3_BUCKET": buckets["monolith"],
                "SNAPPY_SECRET_KEY": SESSION_SECRET,
            },
            log_path,
        )
        processes.append(monolith_process)
        token_from_before = _make_data(monolith_url)

        report = folder / "migration-report.json"
        status = migrate_main(
            ["--report", str(report), "run"],
            environ={
                "SNAPPY_MIGRATE_SOURCE_DATABASE_URL": urls["monolith"],
                "SNAPPY_MIGRATE_USERS_DATABASE_URL": urls["users"],
                "SNAPPY_MIGRATE_PHOTOS_DATABASE_URL": urls["photos"],
                "SNAPPY_MIGRATE_S3_ENDPOINT_URL": backing.s3.endpoint_url,
                "SNAPPY_MIGRATE_S3_REGION": backing.s3.region,
                "SNAPPY_MIGRATE_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
                "SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
                "SNAPPY_MIGRATE_SOURCE_BUCKET": buckets["monolith"],
                "SNAPPY_MIGRATE_TARGET_BUCKET": buckets["photos"],
            },
        )
        assert status == 0, report.read_text() if report.exists() else "no report"

        # Phase 3 on the migrated stores, as `live_microservices` starts it.
        microservices = spawn_microservices(
            backing,
            common,
            user_database_url=urls["users"],
            photo_database_url=urls["photos"],
            bucket=buckets["photos"],
            key_file=key_file,
            log_path=log_path,
            processes=processes,
        )
        yield Migrated(
            monolith_url=monolith_url,
            microservices_url=microservices.edge_url,
            photo_database_url=urls["photos"],
            token_from_before=token_from_before,
        )
    finally:
        for process in reversed(processes):
            stop_process(process, grace_seconds=30)
        for name in databases.values():
            drop_database(backing.postgres_url, name)
        for bucket in buckets.values():
            delete_bucket(backing.s3, bucket)


def _make_data(base_url: str) -> str:
    """Three users' photos, shares and edits, made through the monolith's API; returns ada's token."""
    with httpx.Client(base_url=base_url, timeout=_TIMEOUT) as http:
        tokens: dict[str, str] = {}
        for username, password in PASSWORDS.items():
            user = {"username": username, "password": password, "display_name": username.title()}
            _expect(http.post("/api/v1/users", json=user), 201)
            logged_in = http.post("/api/v1/tokens", json={"username": username, "password": password})
            tokens[username] = _expect(logged_in, 201)["access_token"]

        def upload(username: str, caption: str, visibility: str, image_format: str = "JPEG") -> int:
            extension = {"JPEG": "jpg", "PNG": "png"}[image_format]
            response = http.post(
                "/api/v1/photos",
                headers=_bearer(tokens[username]),
                files={"file": (f"{caption}.{extension}", image_bytes(image_format), f"image/{extension}")},
                data={"caption": caption, "visibility": visibility},
            )
            photo_id: int = _expect(response, 201)["id"]
            return photo_id

        def share(username: str, photo_id: int, friend: str) -> None:
            response = http.post(
                f"/api/v1/photos/{photo_id}/shares",
                headers=_bearer(tokens[username]),
                json={"username": friend},
            )
            _expect(response, 201)

        ada_public = upload("ada", "harbour at dawn", "public")
        ada_private = upload("ada", "notes", "private", "PNG")
        ada_gone = upload("ada", "blurred", "private")
        brian_private = upload("brian", "kitchen", "private")
        brian_public = upload("brian", "market", "public", "PNG")
        chloe_private = upload("chloe", "garden", "private")
        share("ada", ada_private, "brian")
        share("ada", ada_private, "chloe")
        share("ada", ada_gone, "brian")
        share("brian", brian_private, "ada")
        share("chloe", chloe_private, "ada")
        share("chloe", chloe_private, "brian")
        share("brian", brian_public, "chloe")
        # A caption edit, a revoked share and a deleted photo (with its share).
        edited = http.patch(
            f"/api/v1/photos/{ada_public}",
            headers=_bearer(tokens["ada"]),
            json={"caption": "harbour, edited"},
        )
        _expect(edited, 200)
        revoked = http.delete(
            f"/api/v1/photos/{chloe_private}/shares/brian", headers=_bearer(tokens["chloe"])
        )
        _expect(revoked, 204)
        deleted = http.delete(f"/api/v1/photos/{ada_gone}", headers=_bearer(tokens["ada"]))
        _expect(deleted, 204)
        return tokens["ada"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


@pytest.mark.live
def test_every_user_sees_exactly_their_data_on_the_microservices(migrated: Migrated) -> None:
    differences = [
        difference
        for username, password in PASSWORDS.items()
        for difference in compare_user_views(
            migrated.monolith_url, migrated.microservices_url, [username], password
        )
    ]
    assert differences == []
    # The comparison had something to compare: every user has photos or a feed.
    with httpx.Client(base_url=migrated.microservices_url, timeout=_TIMEOUT) as http:
        for username, password in PASSWORDS.items():
            token = http.post("/api/v1/tokens", json={"username": username, "password": password}).json()
            own = http.get("/api/v1/photos", headers=_bearer(token["access_token"])).json()["items"]
            feed = http.get("/api/v1/feed", headers=_bearer(token["access_token"])).json()["items"]
            assert own or feed, username


@pytest.mark.live
def test_users_log_in_on_the_microservices_with_their_existing_passwords(migrated: Migrated) -> None:
    with httpx.Client(base_url=migrated.microservices_url, timeout=_TIMEOUT) as http:
        for username, password in PASSWORDS.items():
            logged_in = http.post("/api/v1/tokens", json={"username": username, "password": password})
            assert logged_in.status_code == 201, logged_in.text
            me = http.get("/api/v1/users/me", headers=_bearer(logged_in.json()["access_token"]))
            assert me.json()["username"] == username
            wrong = http.post("/api/v1/tokens", json={"username": username, "password": password + "-not"})
            assert wrong.status_code == 401, wrong.text


@pytest.mark.live
def test_a_token_the_monolith_issued_before_the_migration_still_works(migrated: Migrated) -> None:
    headers = _bearer(migrated.token_from_before)
    with httpx.Client(timeout=_TIMEOUT) as http:
        on_monolith = http.get(f"{migrated.monolith_url}/api/v1/users/me", headers=headers)
        on_microservices = http.get(f"{migrated.microservices_url}/api/v1/users/me", headers=headers)
        photos = http.get(f"{migrated.microservices_url}/api/v1/photos", headers=headers)
    assert on_microservices.status_code == 200, on_microservices.text
    assert on_microservices.json() == on_monolith.json()
    assert photos.status_code == 200
    assert [item["caption"] for item in photos.json()["items"]] == ["notes", "harbour, edited"]


@pytest.mark.live
def test_a_changed_caption_on_one_side_is_reported(migrated: Migrated) -> None:
    username, password = "ada", PASSWORDS["ada"]
    # A version against itself: nothing differs.
    assert compare_user_views(migrated.monolith_url, migrated.monolith_url, [username], password) == []

    changed = "UPDATE photos SET caption = 'tampered' WHERE caption = 'notes'"
    execute_sql(migrated.photo_database_url, changed)
    try:
        differences = compare_user_views(
            migrated.monolith_url, migrated.microservices_url, [username], password
        )
    finally:
        execute_sql(
            migrated.photo_database_url, "UPDATE photos SET caption = 'notes' WHERE caption = 'tampered'"
        )
    assert differences
    assert all(line.startswith("ada: GET /api/v1/photos") for line in differences), differences
    assert any(".caption: 'notes' != 'tampered'" in line for line in differences), differences
