"""Backfill: every source row copied into its target, in primary-key chunks through COPY.

Each chunk is one transaction on the target: its rows and the checkpoint that records
them commit together, so a crash at any point (SIGKILL included) loses at most the chunk
in flight, and the next run resumes right after the last committed one. A chunk whose id
range is empty on the target (the normal case) is streamed straight from the source's
`COPY ... TO STDOUT` into the target's `COPY ... FROM STDIN` in binary; a chunk that meets
rows already there goes through a staging table instead, where rows equal to the
source's are skipped and rows that differ stop the run (`ConflictingRows`): the tool never
overwrites data it did not write.

A share whose photo was inserted after the photos were copied waits for `sync`, which
applies both from the change log, in order. Ids are preserved; each target sequence is
moved past the largest id copied, so the services never hand out a migrated id.

The objects of the photos follow the rows: the keys the copied photos name, merged with
listings of both buckets, decide what to copy (`snappy_migration.objects`). The target
bucket's listing is what makes that work resumable: an object there, equal to the
source's, is not copied again. The checkpoint counts the objects written and says when
the pass finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from snappy_migration import checkpoints
from snappy_migration.errors import ConflictingRows, MissingObject
from snappy_migration.mapping import (
    CHANGE_LOG_TABLE,
    OBJECT_KEY_COLUMNS,
    OBJECTS_TABLE,
    OBJECTS_TARGET,
    TABLES,
    TableMapping,
)
from snappy_migration.objects import ObjectTransfer, copy_listed_objects, named_object_keys
from snappy_migration.progress import Progress, ProgressFactory
from snappy_migration.stores import Connection, Stores, column_list, connect, pipe_copy

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "OBJECTS_STREAM",
    "BackfillSummary",
    "advance_sequence",
    "backfill",
    "copy_rows",
    "require_objects_of_deleted_photos",
]

DEFAULT_CHUNK_ROWS = 10_000
OBJECTS_STREAM = "objects"
# Objects written per checkpoint update, at most (fewer with smaller row chunks).
_OBJECTS_PER_CHECKPOINT = 1_000
# Keys per query when the source is asked which of the absent objects' photos still exist.
_ABSENT_KEYS_PER_QUERY = 1_000
_CONFLICTS_NAMED = 5


@dataclass
class BackfillSummary:
    """What a backfill run did: rows copied per table, rows left to sync, objects copied."""

    rows: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    objects: int = 0


def backfill(
    stores: Stores,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    with_objects: bool = True,
    progress: ProgressFactory = Progress,
) -> BackfillSummary:
    """Copy every table, then every object, resuming each from its checkpoint."""
    for connection in stores.targets.values():
        checkpoints.ensure_checkpoints(connection)
    done = {target: checkpoints.read_checkpoints(connection) for target, connection in stores.targets.items()}
    if not any(done.values()):
        _forget_changes_before_now(stores.source)
    summary = BackfillSummary()
    for table in TABLES:
        state = done[table.target].get(table.stream)
        if state is not None and state.finished:
            continue
        copied, deferred = _backfill_table(
            stores.source,
            stores.targets[table.target],
            table,
            after_id=state.last_id if state else 0,
            chunk_rows=chunk_rows,
            progress=progress,
        )
        summary.rows[table.source_table] = copied
        if deferred:
            summary.deferred[table.source_table] = deferred
    if with_objects:
        state = done[OBJECTS_TARGET].get(OBJECTS_STREAM)
        if state is None or not state.finished:
            summary.objects = _backfill_objects(stores, chunk_rows=chunk_rows, progress=progress)
    return summary


def copy_rows(
    source: Connection,
    target: Connection,
    table: TableMapping,
    first_id: int,
    last_id: int,
    *,
    into: str | None = None,
) -> int:
    """Stream the rows with `first_id <= id <= last_id` into the target table (or the table `into`).

    Binary COPY on both ends, with no row decoded here: the same path as a plain table
    copy. Runs inside the caller's target transaction.
    """
    select = sql.SQL(
        "COPY (SELECT {columns} FROM {table} WHERE id BETWEEN {first} AND {last}) TO STDOUT (FORMAT BINARY)"
    ).format(
        columns=column_list(table.source_columns),
        table=sql.Identifier(table.source_table),
        first=sql.Literal(first_id),
        last=sql.Literal(last_id),
    )
    insert = sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)").format(
        table=sql.Identifier(into or table.target_table), columns=column_list(table.target_columns)
    )
    return pipe_copy(source, target, select, insert)


def advance_sequence(connection: Connection, table: str) -> None:
    """Move the table's id sequence past its largest id, never backwards (in the caller's transaction)."""
    found = connection.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
    if found is None or found[0] is None:
        return
    sequence = sql.SQL(found[0])  # A name the catalog quoted already.
    largest = connection.execute(sql.SQL("SELECT max(id) FROM {}").format(sql.Identifier(table))).fetchone()
    position = connection.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sequence)).fetchone()
    if largest is None or largest[0] is None or position is None:
        return
    next_value = position[0] + 1 if position[1] else position[0]
    if largest[0] >= next_value:
        connection.execute("SELECT setval(%s, %s, true)", (found[0], largest[0]))


def _backfill_table(
    source: Connection,
    target: Connection,
    table: TableMapping,
    *,
    after_id: int,
    chunk_rows: int,
    progress: ProgressFactory,
) -> tuple[int, int]:
    with source.transaction():
        remaining = source.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE id > %s").format(sql.Identifier(table.source_table)),
            (after_id,),
        ).fetchone()
    bar = progress(table.source_table, remaining[0] if remaining else 0, "rows")
    copied = deferred = 0
    while True:
        with source.transaction():
            bounds = source.execute(
                sql.SQL(
                    "SELECT min(id), max(id)"
                    " FROM (SELECT id FROM {} WHERE id > %s ORDER BY id LIMIT %s) AS chunk"
                ).format(sql.Identifier(table.source_table)),
                (after_id, chunk_rows),
            ).fetchone()
        if bounds is None or bounds[0] is None:
            break
        first_id, last_id = bounds
        with target.transaction():
            written, skipped = _copy_chunk(source, target, table, first_id, last_id)
            checkpoints.advance(target, table.stream, last_id, written)
        copied += written
        deferred += skipped
        after_id = last_id
        bar.add(written + skipped)
    with target.transaction():
        advance_sequence(target, table.target_table)
        checkpoints.mark_finished(target, table.stream)
    bar.finish()
    return copied, deferred


def _copy_chunk(
    source: Connection, target: Connection, table: TableMapping, first_id: int, last_id: int
) -> tuple[int, int]:
    """Copy one chunk inside the callers' transactions; return (rows written, rows left to sync)."""
    occupied = target.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE id BETWEEN %s AND %s)").format(
            sql.Identifier(table.target_table)
        ),
        (first_id, last_id),
    ).fetchone()
    if occupied == (False,):
        try:
            with target.transaction():
                return copy_rows(source, target, table, first_id, last_id), 0
        except psycopg.errors.ForeignKeyViolation:
            pass  # A row's parent came after the parents were copied: the careful path below.
        except psycopg.errors.UniqueViolation as error:
            raise _conflict(table, error) from error
    return _copy_chunk_through_staging(source, target, table, first_id, last_id)


def _copy_chunk_through_staging(
    source: Connection, target: Connection, table: TableMapping, first_id: int, last_id: int
) -> tuple[int, int]:
    staging_name = f"staging_{table.target_table}"
    staging = sql.Identifier(staging_name)
    target_table = sql.Identifier(table.target_table)
    columns = column_list(table.target_columns)
    target.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(staging, target_table))
    staged = copy_rows(source, target, table, first_id, last_id, into=staging_name)
    differing = target.execute(
        sql.SQL(
            "SELECT staged.id FROM {staging} AS staged JOIN {table} AS present USING (id)"
            " WHERE ({staged_columns}) IS DISTINCT FROM ({present_columns}) ORDER BY staged.id LIMIT %s"
        ).format(
            staging=staging,
            table=target_table,
            staged_columns=_qualified("staged", table.target_columns),
            present_columns=_qualified("present", table.target_columns),
        ),
        (_CONFLICTS_NAMED,),
    ).fetchall()
    if differing:
        ids = ", ".join(str(row[0]) for row in differing)
        raise ConflictingRows(
            f"{table.target.value}'s {table.target_table} already holds rows that differ from the monolith's"
            f" (ids {ids}); empty that table or drop its database and migrate again"
        )
    parent_filter: sql.Composable = sql.SQL("")
    if table.parent is not None:
        parent_filter = sql.SQL(
            " WHERE EXISTS (SELECT 1 FROM {parent} WHERE {parent}.id = staged.{column})"
        ).format(parent=sql.Identifier(table.parent.table), column=sql.Identifier(table.parent.column))
    try:
        with target.transaction():
            inserted = target.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} AS staged{filter}"
                    " ON CONFLICT (id) DO NOTHING"
                ).format(table=target_table, columns=columns, staging=staging, filter=parent_filter)
            ).rowcount
            placed = target.execute(
                sql.SQL("SELECT count(*) FROM {staging} AS staged{filter}").format(
                    staging=staging, filter=parent_filter
                )
            ).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise _conflict(table, error) from error
    waiting = staged - (placed[0] if placed else 0)
    return inserted, waiting


def _conflict(table: TableMapping, error: psycopg.errors.UniqueViolation) -> ConflictingRows:
    detail = " ".join((error.diag.message_detail or "").split())
    return ConflictingRows(
        f"{table.target.value}'s {table.target_table} already holds a different row with the same"
        f" unique value ({detail or 'constraint ' + str(error.diag.constraint_name)});"
        " the migration will not overwrite it"
    )


def _backfill_objects(stores: Stores, *, chunk_rows: int, progress: ProgressFactory) -> int:
    """Copy the objects every photo on the target names; return how many were written.

    No position to resume from: whatever an earlier run copied is in the target's listing.
    """
    photos = stores.targets[OBJECTS_TARGET]
    with photos.transaction():
        counted = photos.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(OBJECTS_TABLE))
        ).fetchone()
    bar = progress("objects", (counted[0] if counted else 0) * len(OBJECT_KEY_COLUMNS), "objects")
    if not stores.buckets_differ:
        bar.finish()
        with photos.transaction():
            checkpoints.mark_finished(photos, OBJECTS_STREAM)
        return 0
    # The names stream from a cursor that holds a transaction on `photos` for the whole pass;
    # checkpoints go through a connection of their own, so they commit as the copy goes.
    url = stores.endpoints.target_database_urls[OBJECTS_TARGET]
    with connect(url, f"{OBJECTS_TARGET.value}'s") as recording:

        def record(written: int) -> None:
            with recording.transaction():
                checkpoints.advance(recording, OBJECTS_STREAM, 0, written)

        outcome = copy_listed_objects(
            ObjectTransfer.of(stores),
            named_object_keys(photos),
            progress=bar,
            on_copied=record,
            report_every=max(1, min(chunk_rows, _OBJECTS_PER_CHECKPOINT)),
        )
    for start in range(0, len(outcome.absent), _ABSENT_KEYS_PER_QUERY):
        require_objects_of_deleted_photos(
            stores.source,
            outcome.absent[start : start + _ABSENT_KEYS_PER_QUERY],
            stores.endpoints.source_bucket,
        )
    with photos.transaction():
        checkpoints.mark_finished(photos, OBJECTS_STREAM)
    bar.finish()
    return outcome.copied


def require_objects_of_deleted_photos(source: Connection, absent: list[str], bucket: str) -> None:
    """Allow absent objects only where their photo was deleted meanwhile (sync then removes the row)."""
    if not absent:
        return
    conditions = sql.SQL(" OR ").join(
        sql.SQL("{} = ANY(%(keys)s)").format(sql.Identifier(column)) for column in OBJECT_KEY_COLUMNS
    )
    with source.transaction():
        still_there = source.execute(
            sql.SQL("SELECT {keys} FROM {table} WHERE {conditions} LIMIT 1").format(
                keys=column_list(OBJECT_KEY_COLUMNS),
                table=sql.Identifier(OBJECTS_TABLE),
                conditions=conditions,
            ),
            {"keys": absent},
        ).fetchone()
    if still_there is not None:
        missing = next(key for key in still_there if key in absent)
        raise MissingObject(
            f"object {missing!r} of a photo that still exists is missing from the monolith's bucket"
            f" {bucket!r}; restore the object or delete the photo, then migrate again"
        )


def _forget_changes_before_now(source: Connection) -> None:
    """Drop the change-log entries a first backfill makes redundant: it reads their effects anyway.

    The DELETE sees only entries of committed transactions, whose rows every later read
    sees too; entries of transactions still running are invisible to it, and stay for sync.
    """
    with source.transaction():
        source.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(CHANGE_LOG_TABLE)))


def _qualified(alias: str, names: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(alias, name) for name in names)
