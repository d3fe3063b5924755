"""Where each stream of work got to, kept in the target database that the stream writes to.

A chunk's rows and the checkpoint that records them commit in one transaction, so after a
crash at any point the checkpoint names exactly the rows that are there: resuming starts
after them, and no chunk is copied twice or skipped. The table lives in a schema of its
own, `snappy_migration`, next to the service's tables; dropping that schema after the
cutover removes every trace of the migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from snappy_migration.stores import Connection

__all__ = [
    "Checkpoint",
    "advance",
    "ensure_checkpoints",
    "foreign_rows",
    "mark_finished",
    "read_checkpoints",
    "record_synced_rows",
]

_SCHEMA = "snappy_migration"
_TABLE = sql.Identifier(_SCHEMA, "checkpoints")
# Rows that sync inserted above the backfill's last id: with the backfilled ones, the rows the
# migration wrote. Any other row is the service's own, and sync must not overwrite it.
_SYNCED_ROWS = sql.Identifier(_SCHEMA, "synced_rows")


@dataclass(frozen=True)
class Checkpoint:
    """A stream's progress: the last primary key done, rows written, and whether it is finished."""

    stream: str
    last_id: int
    rows: int
    finished: bool


def ensure_checkpoints(connection: Connection) -> None:
    """Create the checkpoint table unless it exists."""
    with connection.transaction():
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_SCHEMA}")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {_SCHEMA}.checkpoints ("
            " stream text PRIMARY KEY,"
            " last_id bigint NOT NULL,"
            " rows bigint NOT NULL DEFAULT 0,"
            " finished boolean NOT NULL DEFAULT false,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
        connection.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (table_name text, id bigint, PRIMARY KEY (table_name, id))"
            ).format(_SYNCED_ROWS)
        )


def read_checkpoints(connection: Connection) -> dict[str, Checkpoint]:
    """Every stream's checkpoint in this database; none before the first backfill."""
    with connection.transaction():
        exists = connection.execute("SELECT to_regclass(%s)", (f"{_SCHEMA}.checkpoints",)).fetchone()
        if exists is None or exists[0] is None:
            return {}
        rows = connection.execute(
            sql.SQL("SELECT stream, last_id, rows, finished FROM {}").format(_TABLE)
        ).fetchall()
    return {row[0]: Checkpoint(*row) for row in rows}


def advance(connection: Connection, stream: str, last_id: int, rows: int) -> None:
    """Record, in the caller's transaction, that `stream` is done up to `last_id`, with `rows` more rows."""
    connection.execute(
        sql.SQL(
            "INSERT INTO {table} AS done (stream, last_id, rows) VALUES (%s, %s, %s)"
            " ON CONFLICT (stream) DO UPDATE SET last_id = EXCLUDED.last_id,"
            " rows = done.rows + EXCLUDED.rows, updated_at = now()"
        ).format(table=_TABLE),
        (stream, last_id, rows),
    )


def mark_finished(connection: Connection, stream: str) -> None:
    """Record, inside the caller's transaction, that `stream` has nothing left to do."""
    connection.execute(
        sql.SQL(
            "INSERT INTO {table} (stream, last_id, finished) VALUES (%s, 0, true)"
            " ON CONFLICT (stream) DO UPDATE SET finished = true, updated_at = now()"
        ).format(table=_TABLE),
        (stream,),
    )


def foreign_rows(connection: Connection, table: str, ids: list[int], backfilled_up_to: int) -> list[int]:
    """Those of `ids` present in `table` that the migration did not write (the service wrote them)."""
    rows = connection.execute(
        sql.SQL(
            "SELECT id FROM {table} AS present WHERE id = ANY(%(ids)s) AND id > %(mark)s"
            " AND NOT EXISTS (SELECT 1 FROM {synced} AS synced"
            " WHERE synced.table_name = %(name)s AND synced.id = present.id) ORDER BY id"
        ).format(table=sql.Identifier(table), synced=_SYNCED_ROWS),
        {"ids": ids, "mark": backfilled_up_to, "name": table},
    ).fetchall()
    return [row[0] for row in rows]


def record_synced_rows(connection: Connection, table: str, ids: list[int], backfilled_up_to: int) -> None:
    """Remember, in the caller's transaction, the rows sync wrote above the backfill's last id."""
    connection.execute(
        sql.SQL(
            "INSERT INTO {synced} (table_name, id) SELECT %(name)s, id FROM unnest(%(ids)s::bigint[]) AS id"
            " WHERE id > %(mark)s ON CONFLICT DO NOTHING"
        ).format(synced=_SYNCED_ROWS),
        {"ids": ids, "mark": backfilled_up_to, "name": table},
    )
