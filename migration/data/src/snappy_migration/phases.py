"""Verify at the phase the data is in: what must agree while the monolith and the services share it.

The monolith's database records the ownership phase (its table `ownership_phase`, written by
`snappy_monolith.ownership.set_ownership_phase`). Each table of `mapping.TABLES` has one
writer at a time:

- while the monolith owns a table, the service's copy must equal the monolith's exactly,
  as `verify.verify` proves (phase 0 for everything; phase 1 for photos and shares);
- once user-service owns users (phase 1 on), the monolith's users table holds the rows it
  had at the cutover and the reference rows of users its photos name: each must equal
  user-service's row on the columns a reference row copies (id, username, display name,
  creation time); user-service holds more users, and that is no difference;
- once photo-service owns photos and shares (phase 2 on), the monolith's copies are what
  they were at the cutover, and nothing is compared with them: what must hold is that
  every user photo-service's rows name exists in user-service.

The change log records only writes of tables the monolith owns (the monolith's migration
0005), so `snappy migrate sync` needs no scoping: it applies what the log holds.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from psycopg import sql

from snappy_migration.mapping import OBJECTS_TARGET, ORPHAN_CHECKS, TABLES, TableMapping
from snappy_migration.objects import named_object_keys
from snappy_migration.stores import Connection, Stores, column_list
from snappy_migration.sync import measure_lag
from snappy_migration.verify import (
    NAMED,
    ObjectInventory,
    TableResult,
    VerifyReport,
    _compare_table,
    _find_orphans,
    _inventory_objects,
    inventory_objects_of,
)

__all__ = [
    "OWNERSHIP_TABLE",
    "REFERENCE_COLUMNS",
    "SERVICE_OWNS_FROM",
    "ReferenceTableResult",
    "monolith_owns",
    "read_ownership_phase",
    "same_writers",
    "scope_lines",
    "verify_at_phase",
]

OWNERSHIP_TABLE: Final = "ownership_phase"
# The first phase in which the service a source table moves to is its one writer.
SERVICE_OWNS_FROM: Final = {"users": 1, "photos": 2, "shares": 2}
# What a reference row copies from the owner's row (snappy_monolith.user_directory).
REFERENCE_COLUMNS: Final = {"users": ("id", "username", "display_name", "created_at")}
_REFERENCE_CHUNK_ROWS = 10_000


@dataclass
class ReferenceTableResult(TableResult):
    """A table a service owns, compared the other way: every monolith row must equal the owner's.

    `missing` are monolith rows the owner lacks, `changed` rows that differ; the owner's
    other rows (`extra_count` stays 0) are its own writes since the cutover.
    """

    @property
    def ok(self) -> bool:
        """Every monolith row is the owner's row."""
        return not (self.changed_count or self.missing_count)


def read_ownership_phase(source: Connection) -> int:
    """The phase the monolith's database records; 0 where it records none (the monolith owns all)."""
    with source.transaction():
        present = source.execute("SELECT to_regclass(%s) IS NOT NULL", (OWNERSHIP_TABLE,)).fetchone()
        if not present or not present[0]:
            return 0
        row = source.execute(
            sql.SQL("SELECT phase FROM {} WHERE id = 1").format(sql.Identifier(OWNERSHIP_TABLE))
        ).fetchone()
    return int(row[0]) if row else 0


def monolith_owns(table: TableMapping, phase: int) -> bool:
    """True while the monolith is the one writer of `table` in `phase`."""
    return phase < SERVICE_OWNS_FROM[table.source_table]


def same_writers(phase: int, other: int) -> bool:
    """True when `phase` and `other` give every table the same one writer.

    Such phases differ only in routing (phases 2, 3 and 4: the services write every table, and
    only the pages move), so a stack may restart from one into the other with no data moving.
    """
    return all(monolith_owns(table, phase) == monolith_owns(table, other) for table in TABLES)


def verify_at_phase(
    stores: Stores,
    phase: int,
    *,
    with_objects: bool = True,
    objects_settled: frozenset[str] | None = None,
    only_tables: Collection[str] | None = None,
) -> VerifyReport:
    """Compare what must agree at `phase` (see the module's docstring).

    `only_tables` (source tables' names) leaves the other tables out: a cutover verifies the
    moving group's tables in its freeze, and the others are written all along.

    With `objects_settled`, the keys an earlier check found equal on both sides
    (`verify.check_objects`, or a copy that checked each object it wrote), only the keys
    named since are compared, a head of each side: objects never change under their key,
    so this costs time in proportion to the photos changed since, not to every object.
    """
    tables: list[TableResult] = []
    for table in TABLES:
        if only_tables is not None and table.source_table not in only_tables:
            continue
        if monolith_owns(table, phase):
            tables.append(_compare_table(stores.source, stores.targets[table.target], table))
        elif table.source_table in REFERENCE_COLUMNS:
            tables.append(_compare_references(stores, table, REFERENCE_COLUMNS[table.source_table]))
    orphans = [_find_orphans(stores, check) for check in ORPHAN_CHECKS]
    # The objects follow the photos: compared while the monolith writes them.
    photos_here = all(monolith_owns(table, phase) for table in TABLES if table.source_table == "photos")
    objects: ObjectInventory | None = None
    if with_objects and photos_here:
        if objects_settled is None:
            objects = _inventory_objects(stores)
        else:
            named = named_object_keys(stores.targets[OBJECTS_TARGET])
            objects = inventory_objects_of(stores, (key for key in named if key not in objects_settled))
    return VerifyReport(tables, orphans, objects, measure_lag(stores.source).entries)


def scope_lines(phase: int) -> list[str]:
    """What a report at `phase` compared, for people: printed above `verify.render`'s table."""
    lines = [f"phase     {phase}: the ownership the monolith's database records"]
    for table in TABLES:
        if monolith_owns(table, phase):
            how = "the monolith writes it; the copy must equal it"
        elif table.source_table in REFERENCE_COLUMNS:
            columns = ", ".join(REFERENCE_COLUMNS[table.source_table])
            how = f"{table.target.value} writes it; each monolith row must equal its row on {columns}"
        else:
            how = f"{table.target.value} writes it; the monolith's copy is as of the cutover, not compared"
        lines.append(f"  {table.source_table:<8}{how}")
    if phase >= SERVICE_OWNS_FROM["photos"]:
        lines.append("  objects photo-service writes them; not compared with the monolith's bucket")
    return lines


def _compare_references(stores: Stores, table: TableMapping, columns: tuple[str, ...]) -> TableResult:
    """Every source row equal, on `columns`, to the target row with its id; chunk by chunk of ids."""
    source, target = stores.source, stores.targets[table.target]
    result = ReferenceTableResult(
        table=table.source_table,
        target=f"{table.target.value}.{table.target_table}",
        source_rows=_count(source, table.source_table),
        target_rows=_count(target, table.target_table),
    )
    after = 0
    while True:
        expected = _row_texts(source, table.source_table, columns, after=after)
        if not expected:
            break
        result.chunks += 1
        found = _row_texts(target, table.target_table, columns, ids=sorted(expected))
        differing = False
        for row_id in sorted(expected):
            if row_id not in found:
                differing = True
                result.missing_count += 1
                _name(result.missing, row_id)
            elif expected[row_id] != found[row_id]:
                differing = True
                result.changed_count += 1
                _name(result.changed, row_id)
        result.differing_chunks += differing
        after = max(expected)
    return result


def _row_texts(
    connection: Connection,
    table: str,
    columns: tuple[str, ...],
    *,
    after: int | None = None,
    ids: list[int] | None = None,
) -> dict[int, str]:
    """Rows' canonical text (in UTC, as verify renders it) by id: a chunk after `after`, or these `ids`."""
    text = sql.SQL("ROW({})::text").format(column_list(columns))
    if ids is not None:
        query = sql.SQL("SELECT id, {text} FROM {table} WHERE id = ANY(%s)").format(
            text=text, table=sql.Identifier(table)
        )
        parameters: tuple[object, ...] = (ids,)
    else:
        query = sql.SQL("SELECT id, {text} FROM {table} WHERE id > %s ORDER BY id LIMIT %s").format(
            text=text, table=sql.Identifier(table)
        )
        parameters = (after or 0, _REFERENCE_CHUNK_ROWS)
    with connection.transaction():
        return {row[0]: row[1] for row in connection.execute(query, parameters)}


def _count(connection: Connection, table: str) -> int:
    with connection.transaction():
        row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def _name(names: list[int], item: int) -> None:
    if len(names) < NAMED:
        names.append(item)
