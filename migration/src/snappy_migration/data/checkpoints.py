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

from snappy_migration.data.stores import Connection

__all__ = ["Checkpoint", "advance", "ensure_checkpoints", "mark_finished", "read_checkpoints"]

_SCHEMA = "snappy_migration"
_TABLE = sql.Identifier(_SCHEMA, "checkpoints")


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
