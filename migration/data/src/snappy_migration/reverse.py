"""The way back: a route group's data, moved from the service that owns it back into the monolith.

A cutover back (`snappy cutover --to N-1`) hands a group back to the monolith after users
wrote in the service in phase N. `move_back` makes the monolith's tables of the group equal
to the service's copy, so that nothing written in phase N is lost when the monolith writes
again. The caller freezes the group's writes at the edge first, calls `move_back` while the
ownership phase still says N, then verifies at N-1 (`phases.verify_at_phase`) and records
N-1 (`snappy_monolith.ownership.set_ownership_phase`).

What moves, per group (`GROUPS`):

- users (phase 1 to 0): `users`, column for column, password hashes included, so an
  account created in user-service logs in on the monolith; the reference rows the
  monolith held (password hash `!`) become the full rows. `revoked_tokens` is a union: every
  revocation user-service recorded and not yet expired is added, none of the monolith's is
  removed (a log-out in phase N must stay a log-out: a token valid again would be a security
  defect). `login_throttle` becomes user-service's exactly: it counted every attempt of
  phase N, so a guesser blocked before the flip stays blocked after it.
- photos (phase 2 to 1): `photos` and `shares`, and the objects photo-service's photos name,
  copied into the monolith's bucket under the same keys (the keys live in the rows, and both
  sides use the monolith's key scheme). The users those rows name that the monolith lacks
  (accounts created in phase 1 or 2) get reference rows from user-service, as the monolith
  itself writes them (`snappy_monolith.user_directory`), since user-service still owns users.
  `upload_requests` (the Idempotency-Keys of uploads) is a union, photo-service's record
  winning for the same key: an upload whose answer was lost in phase N and that is retried
  after the flip replays the photo instead of making a second one.

The state tables (`STATE_TABLES`) are not data backfill and sync copy. The way back
carries them because it hands a group to a writer that was away while they changed; the
cutover forward carries them the other way with `hand_over_state`, by the same rules.

How, and why this way:

- The service's rows stream into temporary tables on the monolith (COPY, one consistent
  snapshot of the service), then set-based statements apply them in ONE monolith
  transaction: deletes in reverse dependency order (shares, photos, users), then upserts in
  dependency order. One transaction because the group is frozen and its tables take no
  other writer, so holding their locks costs nothing, while a failure anywhere leaves the
  monolith exactly as before (no shares of missing photos, no half-applied group), and
  re-running starts from a clean state. An upsert changes only rows that differ, so a
  second run writes nothing and reports zeros.
- The monolith's rows the service no longer has are deleted: a photo deleted in phase N
  must not come back. Users are the exception to "delete blindly": user-service has no
  account deletion, so a monolith user it lacks is either unreferenced (deleted) or named
  by the monolith's photos or shares, and then the move is refused before anything is
  written, naming the ids.
- The id sequences advance past the largest id, so the monolith's next insert does not
  collide with an id the service assigned.
- The ownership row is read `FOR SHARE` in the transaction: a flip waits for the move to
  commit, and a move refuses to run once the monolith owns the group again (it would then
  overwrite what the monolith wrote since).
- The change log: the monolith's triggers (its migration 0005) record no write to a table a
  service owns in the current phase, so these writes, made while the phase says N, leave
  no entry, and the forward sync that resumes at N-1 does not send them back. Entries
  left from before phase N would be harmless: sync applies a row's current state, which is
  now the service's.
- The service's rows become the migration's own in its checkpoints
  (`checkpoints.record_synced_rows`): sync refuses to overwrite, and skips deleting, rows a
  service wrote itself, and after the way back the monolith is their writer, so a caption
  edited or a photo deleted in phase N-1 must reach the service.
- Objects are copied before the rows commit (no monolith row ever names a missing object),
  and the objects of deleted photos are deleted from the monolith's bucket after the
  commit; a crash in between leaves unreferenced objects, which the monolith's
  `sweep-objects` reclaims. When the services kept the monolith's bucket, no object moves.
- The bulk of the objects can move before the freeze (`copy_objects_back`, listing both
  buckets), and the move in the freeze then copies only the objects of photos uploaded
  since, and drops those copied for photos deleted since: a cutover's freeze then grows
  with the photos changed during it, not with every object.

The caller holds the migration's lock (`stores.claim_migration`) as the CLI does, if
another writing migration could run meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import psycopg
from psycopg import sql

from snappy_migration import checkpoints
from snappy_migration.backfill import advance_sequence
from snappy_migration.errors import ConflictingRows, MigrationError, NotReady
from snappy_migration.mapping import OBJECT_KEY_COLUMNS, OBJECTS_TABLE, TABLES, TableMapping
from snappy_migration.objects import (
    ObjectCopyFailed,
    ObjectTransfer,
    copy_listed_objects,
    copy_objects,
    delete_objects,
    named_object_keys,
)
from snappy_migration.phases import OWNERSHIP_TABLE, SERVICE_OWNS_FROM
from snappy_migration.progress import Progress, ProgressFactory
from snappy_migration.stores import Connection, Stores, column_list, pipe_copy
from snappy_topology import PartName

__all__ = [
    "GROUPS",
    "REFERENCE_PASSWORD_HASH",
    "STATE_TABLES",
    "Group",
    "HandedOver",
    "MovedBack",
    "StateTable",
    "copy_objects_back",
    "group_of",
    "hand_over_state",
    "move_back",
]

Group = Literal["users", "photos"]
# The source tables of each route group, in dependency order.
GROUPS: Final[dict[str, tuple[str, ...]]] = {"users": ("users",), "photos": ("photos", "shares")}
# The password hash of a reference row (snappy_monolith.user_directory.REFERENCE_PASSWORD_HASH):
# no password verifies against it.
REFERENCE_PASSWORD_HASH: Final = "!"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True)
class StateTable:
    """A table of a group's state outside `mapping.TABLES`, held alike by the monolith and its service.

    The forward migration does not copy it (it is not the group's data, but its security or
    idempotency state); the way back carries the service's rows over: inserted where the
    monolith lacks them, updated where they differ if `update`, only those for which `keep`
    (an SQL condition on the service's row) holds, and with `mirror` the monolith's rows the
    service lacks deleted, so the table ends equal to the service's.
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    update: bool
    mirror: bool
    keep: str = "true"


# Table for table as in the monolith (its migrations 0003 and 0004; user-service's 0002,
# photo-service's 0002).
STATE_TABLES: Final[dict[str, tuple[StateTable, ...]]] = {
    "users": (
        # A union: no revocation is ever removed, or a logged-out token would open again.
        # Those expired protect nothing (the monolith purges them itself).
        StateTable(
            "revoked_tokens",
            ("token_id", "expires_at"),
            key=("token_id",),
            update=False,
            mirror=False,
            keep="expires_at > now()",
        ),
        # user-service counted every attempt of phase N: its counts are the current ones.
        StateTable(
            "login_throttle",
            ("scope", "subject", "failures", "window_started_at", "blocked_until"),
            key=("scope", "subject"),
            update=True,
            mirror=True,
        ),
    ),
    "photos": (
        # A retried upload (a lost answer, retried after the flip) must replay, not upload twice.
        StateTable(
            "upload_requests",
            ("owner_id", "key", "fingerprint", "photo_id", "created_at"),
            key=("owner_id", "key"),
            update=True,
            mirror=False,
        ),
    ),
}
# The monolith's tables whose rows name users (foreign keys to users.id).
_USER_REFERENCES = (("photos", "owner_id"), ("shares", "user_id"))
_NAMED = 10


@dataclass
class MovedBack:
    """What a move back wrote to the monolith.

    `rows_upserted` and `rows_deleted` count, per monolith table, the rows inserted or
    changed and the rows deleted, the group's `STATE_TABLES` included (for photos, `users`
    counts the reference rows added). `objects_copied` are objects written
    into the monolith's bucket, `objects_deleted` those removed with their deleted photos.
    A second run over unchanged data reports zeros everywhere.
    """

    group: Group
    rows_upserted: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    objects_copied: int = 0
    objects_deleted: int = 0

    @property
    def changed_anything(self) -> bool:
        """Whether the monolith's rows or bucket changed at all."""
        return bool(
            any(self.rows_upserted.values())
            or any(self.rows_deleted.values())
            or self.objects_copied
            or self.objects_deleted
        )


def group_of(name: str) -> Group:
    """The route group `name` is or belongs to: a group's name, or one of its source tables."""
    if name == "users":
        return "users"
    if name == "photos" or name in GROUPS["photos"]:
        return "photos"
    raise ValueError(f"unknown group {name!r}; groups are {', '.join(GROUPS)} (tables {_all_tables()})")


def move_back(
    stores: Stores,
    group: str,
    *,
    progress: ProgressFactory = Progress,
    objects_copied_before: frozenset[str] | None = None,
) -> MovedBack:
    """Make the monolith's tables (and bucket) of `group` equal to the owning service's copy.

    Call it while the ownership phase still gives `group` to its service and its writes are
    frozen; then verify at the previous phase and record it. Idempotent: safe to re-run.

    `objects_copied_before` are the keys `copy_objects_back` put in the monolith's bucket
    before the freeze: only the objects of photos uploaded since are copied here, so the
    freeze does not grow with the objects (keys are never reused, objects never rewritten).
    """
    moving = group_of(group)
    tables = tuple(table for table in TABLES if table.source_table in GROUPS[moving])
    service = tables[0].target
    _require_service_owns(stores.source, tables[0], lock=False)
    result = MovedBack(moving)
    named_keys: set[str] = set(objects_copied_before or ())
    if moving == "photos" and stores.buckets_differ and objects_copied_before is None:
        result.objects_copied = _copy_objects_back(stores, named_keys, progress)
    bar = progress(f"move back {moving}", 0, "rows")
    freed_keys: list[str] = []
    try:
        with stores.source.transaction():
            _require_service_owns(stores.source, tables[0], lock=True)
            _load(stores, service, tables, STATE_TABLES[moving], bar)
            if moving == "photos" and stores.buckets_differ:
                staged_keys = _staged_keys(stores.source)
                result.objects_copied += _copy_late_objects(stores, sorted(staged_keys - named_keys))
                # Copied by the listing for a photo deleted since: no row will name it.
                freed_keys += sorted(named_keys - staged_keys)
            for table in reversed(tables):
                deleted, keys = _delete_missing(stores.source, table)
                result.rows_deleted[table.source_table] = deleted
                freed_keys += keys
            if moving == "photos":
                result.rows_upserted["users"] = _add_reference_rows(stores)
            for table in tables:
                result.rows_upserted[table.source_table] = _upsert(stores.source, table)
                advance_sequence(stores.source, table.source_table)
            for state in STATE_TABLES[moving]:
                deleted, upserted = _carry_state(stores.source, state)
                result.rows_deleted[state.name], result.rows_upserted[state.name] = deleted, upserted
            # Before the monolith commits: marking rows as the migration's is harmless if
            # this transaction then fails (the group stays the service's, and the change log
            # holds nothing of it), while the other order could leave sync refusing them.
            _adopt_rows(stores, service, tables)
    except psycopg.errors.UniqueViolation as error:
        detail = " ".join((error.diag.message_detail or "").split())
        raise ConflictingRows(
            f"the monolith already holds a different row with the same unique value ({detail});"
            " nothing was moved back"
        ) from error
    bar.finish()
    if freed_keys and stores.buckets_differ:
        result.objects_deleted = _delete_freed_objects(stores, freed_keys)
    return result


@dataclass
class HandedOver:
    """What `hand_over_state` wrote to the service: rows inserted or changed, and deleted, per table."""

    group: Group
    rows_upserted: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)


def hand_over_state(stores: Stores, group: str) -> HandedOver:
    """At a cutover forward (to the phase a service owns `group` from): the monolith's state tables to it.

    The forward migration moves the group's data, not its `STATE_TABLES`; without this step a
    token revoked on the monolith would open user-service again, and a guesser blocked there
    would start afresh. The same rules as the way back, the other way: revocations as a
    union, the throttle made the monolith's, Idempotency-Keys as a union (the monolith's
    record winning per key). Call it with the group frozen and before the phase is recorded:
    it refuses once the service owns the group (it would overwrite what the service wrote).
    Idempotent: safe to re-run.
    """
    moving = group_of(group)
    first = next(table for table in TABLES if table.source_table in GROUPS[moving])
    service = stores.targets[first.target]
    result = HandedOver(moving)
    with stores.source.transaction():
        phase = _recorded_phase(stores.source, lock=True)
        if phase >= SERVICE_OWNS_FROM[first.source_table]:
            raise NotReady(
                f"{first.target.value} owns {first.source_table} at phase {phase} already: its state is"
                " its own, and handing the monolith's over now would overwrite it"
            )
        with service.transaction():
            for state in STATE_TABLES[moving]:
                query = sql.SQL("SELECT {columns} FROM {table} WHERE {keep}").format(
                    columns=column_list(state.columns),
                    table=sql.Identifier(state.name),
                    keep=sql.SQL(state.keep),
                )
                _stage(stores.source, service, state.name, state.columns, query.as_string(stores.source))
                deleted, upserted = _carry_state(service, state)
                result.rows_deleted[state.name], result.rows_upserted[state.name] = deleted, upserted
    return result


def _all_tables() -> str:
    return ", ".join(name for names in GROUPS.values() for name in names)


def _recorded_phase(source: Connection, *, lock: bool) -> int:
    """The phase the monolith's database records (0 without the table); with `lock`, its row held."""
    present = source.execute("SELECT to_regclass(%s) IS NOT NULL", (OWNERSHIP_TABLE,)).fetchone()
    if not present or not present[0]:
        return 0
    lock_clause = sql.SQL(" FOR SHARE") if lock else sql.SQL("")
    row = source.execute(
        sql.SQL("SELECT phase FROM {} WHERE id = 1{}").format(sql.Identifier(OWNERSHIP_TABLE), lock_clause)
    ).fetchone()
    return int(row[0]) if row else 0


def _require_service_owns(source: Connection, table: TableMapping, *, lock: bool) -> None:
    """Refuse unless the recorded phase gives `table` to its service; with `lock`, hold the row."""
    phase = _recorded_phase(source, lock=lock)
    owned_from = SERVICE_OWNS_FROM[table.source_table]
    if phase < owned_from:
        raise NotReady(
            f"the monolith owns {table.source_table} at phase {phase} already: nothing to move back"
            f" (moving back is for phases {owned_from} and above, before the phase is set lower;"
            " now it would overwrite what the monolith wrote since)"
        )


def _staging(table: str) -> sql.Identifier:
    """The temporary table that holds the other side's rows of `table` during a move."""
    return sql.Identifier(f"staged_{table}")


def _stage(
    reading: Connection, writing: Connection, table: str, columns: tuple[str, ...], query: str
) -> None:
    """A temporary table on `writing` shaped as its `table`'s `columns`, filled by `query` on `reading`."""
    writing.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
        ).format(staging=_staging(table), columns=column_list(columns), table=sql.Identifier(table))
    )
    copy_in = sql.SQL("COPY {staging} ({columns}) FROM STDIN (FORMAT BINARY)").format(
        staging=_staging(table), columns=column_list(columns)
    )
    copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(sql.SQL(query))
    pipe_copy(reading, writing, copy_out, copy_in)
    # Autovacuum never analyses a temporary table: without statistics the joins that follow
    # are planned for a handful of rows.
    writing.execute(sql.SQL("ANALYZE {}").format(_staging(table)))


def _load(
    stores: Stores,
    service: PartName,
    tables: tuple[TableMapping, ...],
    state_tables: tuple[StateTable, ...],
    bar: Progress,
) -> None:
    """Every row of the service's tables into staging tables, from one snapshot of the service.

    Binary COPY, as the backfill's: the services keep the monolith's columns and types.
    """
    connection = stores.targets[service]
    with connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table in tables:
            query = sql.SQL("SELECT {columns} FROM {table}").format(
                columns=column_list(table.target_columns), table=sql.Identifier(table.target_table)
            )
            _stage(
                connection,
                stores.source,
                table.source_table,
                table.source_columns,
                query.as_string(connection),
            )
            bar.add(_count(stores.source, _staging(table.source_table)))
        for state in state_tables:
            query = sql.SQL("SELECT {columns} FROM {table} WHERE {keep}").format(
                columns=column_list(state.columns), table=sql.Identifier(state.name), keep=sql.SQL(state.keep)
            )
            _stage(connection, stores.source, state.name, state.columns, query.as_string(connection))


def _count(connection: Connection, table: sql.Identifier) -> int:
    row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    return int(row[0]) if row else 0


def _delete_missing(source: Connection, table: TableMapping) -> tuple[int, list[str]]:
    """Delete the monolith's rows the service no longer has; return how many, and the keys they named."""
    name = sql.Identifier(table.source_table)
    absent = sql.SQL("NOT EXISTS (SELECT 1 FROM {staging} AS kept WHERE kept.id = present.id)").format(
        staging=_staging(table.source_table)
    )
    if table.source_table == "users":
        _refuse_referenced_users(source, absent)
    keys = column_list(OBJECT_KEY_COLUMNS) if table.source_table == OBJECTS_TABLE else sql.SQL("NULL")
    deleted = source.execute(
        sql.SQL("DELETE FROM {table} AS present WHERE {absent} RETURNING {keys}").format(
            table=name, absent=absent, keys=keys
        )
    ).fetchall()
    return len(deleted), [key for row in deleted for key in row if key is not None]


def _refuse_referenced_users(source: Connection, absent: sql.Composable) -> None:
    """user-service deletes no account: a monolith user it lacks that photos or shares name is an error."""
    named = sql.SQL(" OR ").join(
        sql.SQL("EXISTS (SELECT 1 FROM {table} WHERE {column} = present.id)").format(
            table=sql.Identifier(table), column=sql.Identifier(column)
        )
        for table, column in _USER_REFERENCES
    )
    ids = [
        row[0]
        for row in source.execute(
            sql.SQL(
                "SELECT id FROM users AS present WHERE {absent} AND ({named}) ORDER BY id LIMIT %s"
            ).format(absent=absent, named=named),
            (_NAMED,),
        )
    ]
    if ids:
        raise ConflictingRows(
            f"the monolith's users {', '.join(map(str, ids))} are not in user-service, and the monolith's"
            " photos or shares name them: nothing was moved back"
        )


def _upsert(source: Connection, table: TableMapping) -> int:
    """Insert the service's rows the monolith lacks and update those that differ; return how many."""
    columns = table.source_columns
    others = [column for column in columns if column != "id"]
    # Only the rows that are new or differ reach the insert: one hash join instead of a
    # conflict (an index probe and a row lock) per row, most of them unchanged.
    statement = sql.SQL(
        "INSERT INTO {table} AS present ({columns}) SELECT {incoming} FROM {staging} AS incoming"
        " LEFT JOIN {table} AS existing ON existing.id = incoming.id"
        " WHERE existing.id IS NULL OR ({existing}) IS DISTINCT FROM ({incoming_others}) ORDER BY incoming.id"
        " ON CONFLICT (id) DO {action}"
    ).format(
        table=sql.Identifier(table.source_table),
        columns=column_list(columns),
        incoming=sql.SQL(", ").join(sql.Identifier("incoming", column) for column in columns),
        staging=_staging(table.source_table),
        existing=sql.SQL(", ").join(sql.Identifier("existing", column) for column in others),
        incoming_others=sql.SQL(", ").join(sql.Identifier("incoming", column) for column in others),
        action=_update_when_different(others),
    )
    return source.execute(statement).rowcount


def _update_when_different(columns: list[str]) -> sql.Composed:
    """`UPDATE SET ...` of an upsert into a table aliased `present`, only where a column differs.

    An unchanged row is not written at all: no dead tuple, no lock, and a run over equal
    data counts zero rows.
    """
    return sql.SQL("UPDATE SET {updates} WHERE ({current}) IS DISTINCT FROM ({incoming})").format(
        updates=sql.SQL(", ").join(
            sql.SQL("{column} = EXCLUDED.{column}").format(column=sql.Identifier(column))
            for column in columns
        ),
        current=sql.SQL(", ").join(sql.Identifier("present", column) for column in columns),
        incoming=sql.SQL(", ").join(sql.Identifier("excluded", column) for column in columns),
    )


def _add_reference_rows(stores: Stores) -> int:
    """Reference rows, from user-service, of users the incoming photos and shares name, if missing."""
    source = stores.source
    wanted = [
        row[0]
        for row in source.execute(
            sql.SQL(
                "SELECT DISTINCT named.id FROM ("
                "SELECT owner_id AS id FROM {photos} UNION SELECT user_id FROM {shares}) AS named"
                " WHERE NOT EXISTS (SELECT 1 FROM users WHERE users.id = named.id) ORDER BY named.id"
            ).format(photos=_staging("photos"), shares=_staging("shares"))
        )
    ]
    if not wanted:
        return 0
    users = stores.targets[PartName.USER_SERVICE]
    with users.transaction():
        accounts = users.execute(
            "SELECT id, username, display_name, created_at FROM users WHERE id = ANY(%s) ORDER BY id",
            (wanted,),
        ).fetchall()
    unknown = sorted(set(wanted) - {account[0] for account in accounts})
    if unknown:
        raise MigrationError(
            f"photo-service's photos or shares name users that user-service does not have"
            f" ({', '.join(map(str, unknown[:_NAMED]))}): nothing was moved back"
        )
    with source.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            [(*account[:3], REFERENCE_PASSWORD_HASH, account[3]) for account in accounts],
        )
    advance_sequence(source, "users")
    return len(accounts)


def _carry_state(source: Connection, state: StateTable) -> tuple[int, int]:
    """Apply a state table's staged rows to the table of `source` (the side they move to).

    Return the rows deleted and upserted.
    """
    table, staging, key = sql.Identifier(state.name), _staging(state.name), column_list(state.key)
    deleted = 0
    if state.mirror:
        deleted = source.execute(
            sql.SQL("DELETE FROM {table} WHERE ({key}) NOT IN (SELECT {key} FROM {staging})").format(
                table=table, key=key, staging=staging
            )
        ).rowcount
    others = [column for column in state.columns if column not in state.key]
    action: sql.Composable = _update_when_different(others) if state.update else sql.SQL("NOTHING")
    upserted = source.execute(
        sql.SQL(
            "INSERT INTO {table} AS present ({columns}) SELECT {columns} FROM {staging}"
            " ON CONFLICT ({key}) DO {action}"
        ).format(table=table, columns=column_list(state.columns), staging=staging, key=key, action=action)
    ).rowcount
    return deleted, upserted


def _adopt_rows(stores: Stores, service: PartName, tables: tuple[TableMapping, ...]) -> None:
    """Record the service's rows as the migration's, so the forward sync at N-1 may update and delete them."""
    connection = stores.targets[service]
    checkpoints.ensure_checkpoints(connection)
    done = checkpoints.read_checkpoints(connection)
    for table in tables:
        state = done.get(table.stream)
        mark = state.last_id if state is not None else 0
        ids = [
            row[0]
            for row in stores.source.execute(
                sql.SQL("SELECT id FROM {} WHERE id > %s ORDER BY id").format(_staging(table.source_table)),
                (mark,),
            )
        ]
        if ids:
            with connection.transaction():
                checkpoints.record_synced_rows(connection, table.target_table, ids, mark)


def _reverse_transfer(stores: Stores) -> ObjectTransfer:
    """From photo-service's bucket into the monolith's: the forward transfer, turned around."""
    return ObjectTransfer(
        stores.target,
        stores.endpoints.target_bucket,
        stores.s3,
        stores.endpoints.source_bucket,
        server_side=stores.endpoints.server_side_copy,
    )


def _copy_objects_back(stores: Stores, named_keys: set[str], progress: ProgressFactory) -> int:
    """Copy every object photo-service's photos name that the monolith's bucket lacks or holds different."""
    photos = stores.targets[PartName.PHOTO_SERVICE]
    with photos.transaction():
        row = photos.execute(
            sql.SQL("SELECT count(*) * 2 FROM {}").format(sql.Identifier(OBJECTS_TABLE))
        ).fetchone()
    bar = progress("move back objects", int(row[0]) if row else 0, "objects")

    def remembered(keys: Iterable[str]) -> Iterator[str]:
        for key in keys:
            named_keys.add(key)
            yield key

    outcome = copy_listed_objects(
        _reverse_transfer(stores), remembered(named_object_keys(photos)), progress=bar
    )
    bar.finish()
    _refuse_absent(stores, outcome.absent)
    return outcome.copied


def copy_objects_back(stores: Stores, *, progress: ProgressFactory = Progress) -> frozenset[str]:
    """Before a freeze: copy into the monolith's bucket every object photo-service's photos name.

    Listing-driven, like the copy `move_back` makes itself; the keys it returns are those
    the monolith's bucket now holds equal, for `move_back(objects_copied_before=...)` and
    `phases.verify_at_phase(objects_settled=...)` to skip. Nothing is copied when both
    sides share one bucket.
    """
    named_keys: set[str] = set()
    if stores.buckets_differ:
        _copy_objects_back(stores, named_keys, progress)
    return frozenset(named_keys)


def _staged_keys(source: Connection) -> set[str]:
    """The object keys the staged photos name (the service's photos, loaded into the monolith's session)."""
    return {
        key
        for row in source.execute(
            sql.SQL("SELECT {keys} FROM {staging}").format(
                keys=column_list(OBJECT_KEY_COLUMNS), staging=_staging(OBJECTS_TABLE)
            )
        )
        for key in row
    }


def _copy_late_objects(stores: Stores, keys: list[str]) -> int:
    """Copy the objects of staged photos the listing-driven copy did not see (written after it started)."""
    if not keys:
        return 0
    absent = copy_objects(_reverse_transfer(stores), keys)
    _refuse_absent(stores, absent)
    return len(keys) - len(absent)


def _refuse_absent(stores: Stores, absent: list[str]) -> None:
    if absent:
        raise ObjectCopyFailed(
            f"photo-service's photos name objects its bucket {stores.endpoints.target_bucket!r} does not hold"
            f" ({', '.join(sorted(absent)[:_NAMED])}): nothing was moved back"
        )


def _delete_freed_objects(stores: Stores, keys: list[str]) -> int:
    """Delete the deleted photos' objects from the monolith's bucket, unless a photo still names them."""
    with stores.source.transaction():
        still_named = {
            row[0]
            for column in OBJECT_KEY_COLUMNS
            for row in stores.source.execute(
                sql.SQL("SELECT {column} FROM {table} WHERE {column} = ANY(%s)").format(
                    column=sql.Identifier(column), table=sql.Identifier(OBJECTS_TABLE)
                ),
                (keys,),
            )
        }
    freed = sorted(set(keys) - still_named)
    delete_objects(stores.s3, stores.endpoints.source_bucket, freed)
    return len(freed)
