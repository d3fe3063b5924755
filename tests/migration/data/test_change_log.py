"""The monolith's change capture: every write to users, photos and shares leaves an entry."""

from __future__ import annotations

import psycopg
import pytest

from tests.migration.data.conftest import MigrationStores, execute


def entries(stores: MigrationStores) -> list[tuple[str, int, str]]:
    return [
        (row[0], row[1], row[2])
        for row in execute(
            stores.source_url, "SELECT table_name, row_id, operation FROM change_log ORDER BY id"
        )
    ]


def test_inserts_updates_and_deletes_are_logged_in_order(stores: MigrationStores) -> None:
    user_id = execute(
        stores.source_url,
        "INSERT INTO users (username, display_name, password_hash) VALUES ('ann', 'Ann', 'x') RETURNING id",
    )[0][0]
    execute(stores.source_url, "UPDATE users SET display_name = 'Ann B.' WHERE id = %s", (user_id,))
    execute(stores.source_url, "DELETE FROM users WHERE id = %s", (user_id,))

    assert entries(stores) == [
        ("users", user_id, "insert"),
        ("users", user_id, "update"),
        ("users", user_id, "delete"),
    ]


def test_a_cascaded_delete_logs_every_row_it_removes(stores: MigrationStores) -> None:
    owner, friend = (
        execute(
            stores.source_url,
            "INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, 'x') RETURNING id",
            (name, name),
        )[0][0]
        for name in ("owner", "friend")
    )
    photo = execute(
        stores.source_url,
        "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
        " object_key, thumbnail_key) VALUES (%s, '', 'private', 'image/png', 1, 1, 1, 'o', 't') RETURNING id",
        (owner,),
    )[0][0]
    share = execute(
        stores.source_url,
        "INSERT INTO shares (photo_id, user_id) VALUES (%s, %s) RETURNING id",
        (photo, friend),
    )[0][0]
    execute(stores.source_url, "DELETE FROM change_log")

    execute(stores.source_url, "DELETE FROM users WHERE id = %s", (owner,))

    assert sorted(entries(stores)) == [
        ("photos", photo, "delete"),
        ("shares", share, "delete"),
        ("users", owner, "delete"),
    ]


def test_an_entry_commits_with_its_write_or_not_at_all(stores: MigrationStores) -> None:
    statement = "INSERT INTO users (username, display_name, password_hash) VALUES ('dup', 'Dup', 'x')"
    execute(stores.source_url, statement)
    before = entries(stores)

    with pytest.raises(psycopg.errors.UniqueViolation, match="uq_users_username"):
        execute(stores.source_url, statement)

    assert entries(stores) == before
