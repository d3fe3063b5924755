"""Sync: the monolith's change log, applied to the targets until it is empty.

The monolith's triggers append (table, row id, operation) to `change_log` in the same
transaction as every write. `sync` reads the entries in id order, a batch at a time, and
for every row they name applies the row's current state: the row as it is now where it
still exists, a delete where it does not. Then it deletes the entries it applied.

Why the current state and not the logged operation: applying a row's current state is
idempotent, so a crash between applying a batch and deleting its entries only means the
batch is applied again; and the last state wins however the entries of one row were
ordered. Entry ids follow the order the writes happened in, so a row's parent (a photo
before its shares) and a freed unique value (a share revoked before it is made again)
always arrive in the same batch or an earlier one; inside a batch, deletes go first and
upserts follow the tables' dependency order.

A photo's objects are copied before its row is committed on the target, and deleted
from the target bucket only after its row is gone, so photo-service never serves a row
whose object is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from snappy_migration import checkpoints
from snappy_migration.backfill import advance_sequence, require_objects_of_deleted_photos
from snappy_migration.errors import ConflictingRows, MigrationError, NotReady
from snappy_migration.mapping import (
    CHANGE_LOG_TABLE,
    OBJECT_KEY_COLUMNS,
    OBJECTS_TABLE,
    TABLES,
    TARGETS,
    TableMapping,
    tables_of,
)
from snappy_migration.objects import ObjectTransfer, copy_objects, delete_objects
from snappy_migration.progress import Progress, ProgressFactory
from snappy_migration.stores import Connection, Stores, column_list
from snappy_topology import PartName

__all__ = ["DEFAULT_BATCH_ENTRIES", "Lag", "SyncSummary", "measure_lag", "require_backfilled", "sync"]

DEFAULT_BATCH_ENTRIES = 1_000
_POLL_SECONDS = 1.0
_NO_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class Lag:
    """How far the targets are behind: change-log entries not applied yet, and the oldest one's time."""

    entries: int
    oldest: datetime | None


@dataclass
class SyncSummary:
    """What a sync run applied: entries consumed, and rows written and deleted per table."""

    entries: int = 0
    upserted: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


def measure_lag(source: Connection) -> Lag:
    """The change-log entries waiting to be applied."""
    with source.transaction():
        row = source.execute(
            sql.SQL("SELECT count(*), min(changed_at) FROM {}").format(sql.Identifier(CHANGE_LOG_TABLE))
        ).fetchone()
    return Lag(row[0], row[1]) if row else Lag(0, None)


def _last_entry_id(source: Connection) -> int:
    with source.transaction():
        row = source.execute(
            sql.SQL("SELECT max(id) FROM {}").format(sql.Identifier(CHANGE_LOG_TABLE))
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def require_backfilled(stores: Stores) -> dict[str, int]:
    """Each table's last backfilled id; refuse to sync before every backfill finished."""
    done = {target: checkpoints.read_checkpoints(connection) for target, connection in stores.targets.items()}
    last_ids: dict[str, int] = {}
    for table in TABLES:
        state = done[table.target].get(table.stream)
        if state is None or not state.finished:
            raise NotReady(
                f"the backfill of {table.source_table} has not finished: run `snappy migrate backfill` first"
            )
        last_ids[table.source_table] = state.last_id
    return last_ids


def sync(
    stores: Stores,
    *,
    batch_entries: int = DEFAULT_BATCH_ENTRIES,
    follow: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    progress: ProgressFactory = Progress,
) -> SyncSummary:
    """Apply the changes logged so far, batch by batch; with `follow`, keep going until `should_stop`."""
    backfilled_up_to = require_backfilled(stores)
    for connection in stores.targets.values():
        checkpoints.ensure_checkpoints(connection)
    summary = SyncSummary()
    bar = progress("sync", measure_lag(stores.source).entries, "changes")
    # Without `follow`, the changes logged until now and no later: under a steady stream of
    # writes the log may never be empty, and the command must still end (the write freeze
    # at the cutover is what brings the lag to zero).
    last_entry = None if follow else _last_entry_id(stores.source)
    while not should_stop():
        with stores.source.transaction():
            entries = stores.source.execute(
                sql.SQL("SELECT id, table_name, row_id FROM {} WHERE id <= %s ORDER BY id LIMIT %s").format(
                    sql.Identifier(CHANGE_LOG_TABLE)
                ),
                (last_entry if last_entry is not None else _NO_LIMIT, batch_entries),
            ).fetchall()
        if not entries:
            if not follow:
                break
            time.sleep(_POLL_SECONDS)
            continue
        _apply(stores, entries, summary, backfilled_up_to)
        with stores.source.transaction():
            stores.source.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(CHANGE_LOG_TABLE)),
                ([entry[0] for entry in entries],),
            )
        summary.entries += len(entries)
        bar.total = max(bar.total, summary.entries)
        bar.add(len(entries))
    bar.finish()
    return summary


def _apply(
    stores: Stores, entries: Sequence[tuple[Any, ...]], summary: SyncSummary, backfilled_up_to: dict[str, int]
) -> None:
    """Bring every row named by `entries` to its current source state on its target."""
    named: dict[str, set[int]] = {table.source_table: set() for table in TABLES}
    for _, table_name, row_id in entries:
        if table_name in named:
            named[table_name].add(row_id)
    current: dict[str, list[tuple[Any, ...]]] = {}
    with stores.source.transaction():
        # One snapshot for the whole batch: the rows read are one consistent state of the monolith.
        stores.source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for table in TABLES:
            if named[table.source_table]:
                current[table.source_table] = stores.source.execute(
                    sql.SQL("SELECT {columns} FROM {table} WHERE id = ANY(%s)").format(
                        columns=column_list(table.source_columns), table=sql.Identifier(table.source_table)
                    ),
                    (sorted(named[table.source_table]),),
                ).fetchall()
    for target in TARGETS:
        tables = [table for table in tables_of(target) if named[table.source_table]]
        if tables:
            _apply_to_target(
                stores,
                target,
                tables=tables,
                named=named,
                current=current,
                summary=summary,
                backfilled_up_to=backfilled_up_to,
            )


def _apply_to_target(
    stores: Stores,
    target: PartName,
    *,
    tables: list[TableMapping],
    named: dict[str, set[int]],
    current: dict[str, list[tuple[Any, ...]]],
    summary: SyncSummary,
    backfilled_up_to: dict[str, int],
) -> None:
    connection = stores.targets[target]
    freed_keys: list[str] = []
    try:
        with connection.transaction():
            for table in reversed(tables):
                gone = named[table.source_table] - {row[0] for row in current[table.source_table]}
                # A row the service wrote under the same id is not the migration's to delete.
                gone -= set(
                    checkpoints.foreign_rows(
                        connection, table.target_table, sorted(gone), backfilled_up_to[table.source_table]
                    )
                )
                if gone:
                    freed_keys += _delete_rows(connection, table, sorted(gone))
                    summary.deleted[table.source_table] = summary.deleted.get(table.source_table, 0) + len(
                        gone
                    )
            # Rows deleted from the monolith after this batch read them, absent from the
            # target: by table, the ids that rows of child tables must not name either.
            vanished_ids: dict[str, set[int]] = {}
            for table in tables:
                rows = current[table.source_table]
                if table.parent is not None and vanished_ids.get(table.parent.table):
                    # Their parent went while the batch ran (a photo, its shares with it by
                    # cascade): their delete entries follow in a later batch.
                    column = table.target_columns.index(table.parent.column)
                    rows = [row for row in rows if row[column] not in vanished_ids[table.parent.table]]
                if not rows:
                    continue
                if table.target_table == OBJECTS_TABLE and stores.buckets_differ:
                    rows, vanished = _copy_objects_of(stores, table, rows)
                    # A photo deleted while its objects were copied may have had some copied:
                    # no row will name them unless the target already holds the photo (its
                    # delete entry, in a later batch, then removes row and objects together).
                    not_on_target = _rows_not_on_target(connection, table, vanished)
                    vanished_ids[table.target_table] = {row[0] for row in not_on_target}
                    freed_keys += _object_keys_of(table, not_on_target)
                    if not rows:
                        continue
                _upsert_rows(connection, table, rows, backfilled_up_to[table.source_table])
                advance_sequence(connection, table.target_table)
                summary.upserted[table.source_table] = summary.upserted.get(table.source_table, 0) + len(rows)
    except psycopg.errors.UniqueViolation as error:
        detail = " ".join((error.diag.message_detail or "").split())
        raise ConflictingRows(
            f"{target.value} already holds a different row with the same unique value ({detail});"
            " was it written to directly? The migration will not overwrite it"
        ) from error
    except psycopg.errors.ForeignKeyViolation as error:
        raise MigrationError(f"{target.value} refused a change: {' '.join(str(error).split())}") from error
    if freed_keys and stores.buckets_differ:
        delete_objects(stores.target, stores.endpoints.target_bucket, freed_keys)


def _delete_rows(connection: Connection, table: TableMapping, ids: list[int]) -> list[str]:
    """Delete rows by id; return the object keys they named, to delete once the rows are gone."""
    keys = column_list(OBJECT_KEY_COLUMNS) if table.target_table == OBJECTS_TABLE else sql.SQL("NULL")
    deleted = connection.execute(
        sql.SQL("DELETE FROM {table} WHERE id = ANY(%s) RETURNING {keys}").format(
            table=sql.Identifier(table.target_table), keys=keys
        ),
        (ids,),
    ).fetchall()
    return [key for row in deleted for key in row if key is not None]


def _upsert_rows(
    connection: Connection, table: TableMapping, rows: list[tuple[Any, ...]], backfilled_up_to: int
) -> None:
    """Insert or update rows by id, but never a row the service wrote itself."""
    ids = [row[0] for row in rows]
    theirs = checkpoints.foreign_rows(connection, table.target_table, ids, backfilled_up_to)
    if theirs:
        raise ConflictingRows(
            f"{table.target.value}'s {table.target_table} holds rows the migration did not write, with"
            f" the ids of monolith rows (ids {', '.join(map(str, theirs[:5]))}): the service took writes"
            " before the cutover; the migration will not overwrite them"
        )
    updates = sql.SQL(", ").join(
        sql.SQL("{column} = EXCLUDED.{column}").format(column=sql.Identifier(column))
        for column in table.target_columns
        if column != "id"
    )
    statement = sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(table.target_table),
        columns=column_list(table.target_columns),
        values=sql.SQL(", ").join(sql.Placeholder() * len(table.target_columns)),
        updates=updates,
    )
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)
    checkpoints.record_synced_rows(connection, table.target_table, ids, backfilled_up_to)


def _copy_objects_of(
    stores: Stores, table: TableMapping, rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Copy the rows' objects; return the rows whose objects are now on the target, and the rest.

    A row of the rest was deleted from the monolith since it was read, its objects with it;
    its delete entry comes in a later batch.
    """
    positions = [table.target_columns.index(column) for column in OBJECT_KEY_COLUMNS]
    keys = [row[position] for row in rows for position in positions]
    source_bucket = stores.endpoints.source_bucket
    absent = set(copy_objects(ObjectTransfer.of(stores), keys))
    require_objects_of_deleted_photos(stores.source, sorted(absent), source_bucket)
    kept = [row for row in rows if not any(row[position] in absent for position in positions)]
    vanished = [row for row in rows if any(row[position] in absent for position in positions)]
    return kept, vanished


def _rows_not_on_target(
    connection: Connection, table: TableMapping, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Those of `rows` whose id the target table does not hold."""
    if not rows:
        return []
    statement = sql.SQL("SELECT id FROM {table} WHERE id = ANY(%s)").format(
        table=sql.Identifier(table.target_table)
    )
    on_target = {found[0] for found in connection.execute(statement, ([row[0] for row in rows],)).fetchall()}
    return [row for row in rows if row[0] not in on_target]


def _object_keys_of(table: TableMapping, rows: list[tuple[Any, ...]]) -> list[str]:
    """The object keys `rows` name."""
    positions = [table.target_columns.index(column) for column in OBJECT_KEY_COLUMNS]
    return [row[position] for row in rows for position in positions]
