"""Writes to the monolith while backfill and sync run: once writes stop and sync catches up, no difference."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

import psycopg

from snappy_migration.backfill import backfill
from snappy_migration.stores import open_stores
from snappy_migration.sync import measure_lag, sync
from snappy_migration.verify import verify
from tests.migration.data.conftest import MigrationStores, seed_monolith, source_snapshot, target_snapshot

WRITERS = 2


class MonolithWriter(threading.Thread):
    """Writes to the monolith as its users would, at random, until told to stop."""

    def __init__(self, stores: MigrationStores, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stores = stores
        self.rng = random.Random(seed)
        self.stop = stop
        self.done: Counter[str] = Counter()
        self.failure: BaseException | None = None
        self.s3 = stores.s3()
        self.seed = seed

    def run(self) -> None:
        operations: list[Callable[[psycopg.Connection[tuple[object, ...]]], None]] = [
            self.sign_up,
            self.rename,
            self.upload,
            self.upload,
            self.edit,
            self.delete_photo,
            self.share,
            self.revoke,
        ]
        try:
            with psycopg.connect(self.stores.source_url, autocommit=True) as connection:
                while not self.stop.is_set():
                    self.rng.choice(operations)(connection)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.failure = error

    def some(self, connection: psycopg.Connection[tuple[object, ...]], table: str) -> int | None:
        row = connection.execute(f"SELECT id FROM {table} ORDER BY random() LIMIT 1").fetchone()  # noqa: S608
        return None if row is None else int(str(row[0]))

    def sign_up(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        connection.execute(
            "INSERT INTO users (username, display_name, password_hash) VALUES (%s, 'New', 'x')",
            (f"w{self.seed}_{self.done['sign_up']}",),
        )
        self.done["sign_up"] += 1

    def rename(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        user = self.some(connection, "users")
        connection.execute(
            "UPDATE users SET display_name = %s WHERE id = %s", (f"Renamed {self.rng.random()}", user)
        )
        self.done["rename"] += 1

    def upload(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        # As the monolith does: the objects first, then the row that names them.
        owner = self.some(connection, "users")
        name = f"w{self.seed}/{self.done['upload']}"
        keys = (f"photos/{name}", f"thumbnails/{name}")
        for key in keys:
            self.s3.put_object(Bucket=self.stores.source_bucket, Key=key, Body=self.rng.randbytes(100))
        connection.execute(
            "INSERT INTO photos (owner_id, caption, visibility, content_type, width, height, size_bytes,"
            " object_key, thumbnail_key) VALUES (%s, 'up', 'private', 'image/png', 2, 2, 100, %s, %s)",
            (owner, *keys),
        )
        self.done["upload"] += 1

    def edit(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        photo = self.some(connection, "photos")
        visibility = self.rng.choice(["public", "private"])
        connection.execute(
            "UPDATE photos SET caption = %s, visibility = %s WHERE id = %s",
            (f"edit {self.rng.random()}", visibility, photo),
        )
        self.done["edit"] += 1

    def delete_photo(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        # As the monolith does: the row (and its shares) first, then its objects.
        photo = self.some(connection, "photos")
        deleted = connection.execute(
            "DELETE FROM photos WHERE id = %s RETURNING object_key, thumbnail_key", (photo,)
        ).fetchone()
        if deleted is not None:
            self.s3.delete_objects(
                Bucket=self.stores.source_bucket, Delete={"Objects": [{"Key": str(key)} for key in deleted]}
            )
            self.done["delete_photo"] += 1

    def share(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        photo, user = self.some(connection, "photos"), self.some(connection, "users")
        try:
            connection.execute("INSERT INTO shares (photo_id, user_id) VALUES (%s, %s)", (photo, user))
        except (psycopg.errors.UniqueViolation, psycopg.errors.ForeignKeyViolation):
            return  # Shared already, or the photo was deleted meanwhile: as a user would see it.
        self.done["share"] += 1

    def revoke(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        share = self.some(connection, "shares")
        connection.execute("DELETE FROM shares WHERE id = %s", (share,))
        self.done["revoke"] += 1


def test_writes_during_backfill_and_sync_all_arrive(stores: MigrationStores) -> None:
    seed_monolith(stores, users=150, photos=150, shares=150)
    stop = threading.Event()
    writers = [MonolithWriter(stores, seed, stop) for seed in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        with open_stores(stores.endpoints) as opened:
            backfill(opened, chunk_rows=20)
            sync(opened, batch_entries=50)
            sync(opened, batch_entries=50)
            stop.set()
            for writer in writers:
                writer.join(timeout=30)
            final = sync(opened)
            lag = measure_lag(opened.source)
            report = verify(opened)
    finally:
        stop.set()

    assert [writer.failure for writer in writers] == [None] * WRITERS
    done = sum((writer.done for writer in writers), Counter())
    assert (
        min(done[kind] for kind in ("sign_up", "rename", "upload", "edit", "delete_photo", "share", "revoke"))
        > 0
    ), done
    assert lag.entries == 0
    assert final.entries >= 0
    assert report.ok, report
    source, target = source_snapshot(stores), target_snapshot(stores)
    assert {table: rows for table, rows in target.items() if table != "objects"} == {
        table: rows for table, rows in source.items() if table != "objects"
    }
    # The target bucket holds exactly the objects the photos name, each equal to the monolith's.
    named = {key for row in target["photos"] for key in row[8:10]}
    assert {key for key, _, _ in target["objects"]} == named
    source_objects = {key: (size, etag) for key, size, etag in source["objects"]}
    assert all(source_objects[key] == (size, etag) for key, size, etag in target["objects"])
