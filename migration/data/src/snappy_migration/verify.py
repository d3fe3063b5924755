"""Verify: proof that the targets hold exactly the monolith's data.

- Rows: per table, the count, and an MD5 over each chunk of ids of the rows' canonical
  text (`ROW(columns)::text`, rendered in UTC), computed by each database over its own
  rows. Only chunks whose digests differ are read row by row, to name the ids that are
  changed, missing from the target or extra in it.
- Orphans: every user a photo or a share names exists in user-service (the foreign keys
  the monolith had, now crossing a service boundary).
- Objects: every key the target's photos name is in the target bucket with the size and
  checksum of the source's object, and the target bucket holds nothing else. The three
  sorted lists (names, source bucket, target bucket: listings, 1,000 keys a request) are
  merged as streams, so memory stays flat whatever the number of objects; equal sizes and
  MD5 ETags settle a pair, and only pairs they cannot settle (multipart uploads, stores
  whose ETags are no MD5) are read and hashed (`snappy_migration.objects.inventory`).

A report is data (`VerifyReport`, `to_json`) and a table for people (`render`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from snappy_migration.mapping import (
    OBJECTS_TARGET,
    ORPHAN_CHECKS,
    TABLES,
    OrphanCheck,
    TableMapping,
)
from snappy_migration.objects import ObjectTransfer, Standing, inventory, named_object_keys, standing_of_keys
from snappy_migration.stores import Connection, Stores, column_list, pipe_copy
from snappy_migration.sync import measure_lag

__all__ = [
    "CHUNK_IDS",
    "REPORT_FILE",
    "ObjectCheck",
    "ObjectInventory",
    "OrphanCheckResult",
    "TableResult",
    "VerifyReport",
    "check_objects",
    "inventory_objects",
    "inventory_objects_of",
    "render",
    "verify",
]

# The report's file name where no other is given.
REPORT_FILE = "migration-report.json"
# Ids per checksum chunk: small enough that a differing chunk is cheap to read row by row.
CHUNK_IDS = 10_000
# Ids or keys named per kind of difference in the report; the counts are always complete.
NAMED = 20


@dataclass
class TableResult:
    """One table compared: counts, and the ids that differ, by kind (at most NAMED of each)."""

    table: str
    target: str
    source_rows: int
    target_rows: int
    chunks: int = 0
    differing_chunks: int = 0
    changed_count: int = 0
    missing_count: int = 0
    extra_count: int = 0
    changed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No difference at all."""
        return self.source_rows == self.target_rows and not (
            self.changed_count or self.missing_count or self.extra_count
        )


@dataclass
class OrphanCheckResult:
    """One cross-service reference checked: the referenced ids that do not exist."""

    check: str
    orphan_count: int = 0
    orphans: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every reference resolves."""
        return self.orphan_count == 0


@dataclass
class ObjectInventory:
    """The objects compared: how many were named, and the keys that differ, by kind."""

    checked: int = 0
    missing_count: int = 0
    different_count: int = 0
    extra_count: int = 0
    missing_in_source_count: int = 0
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    missing_in_source: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every named object is there and equal, and nothing else is."""
        return not (
            self.missing_count or self.different_count or self.extra_count or self.missing_in_source_count
        )


@dataclass
class VerifyReport:
    """Everything verify compared, and whether it all matched."""

    tables: list[TableResult]
    orphans: list[OrphanCheckResult]
    objects: ObjectInventory | None
    pending_changes: int

    @property
    def ok(self) -> bool:
        """No difference in rows, references or objects."""
        return (
            all(result.ok for result in self.tables)
            and all(result.ok for result in self.orphans)
            and (self.objects is None or self.objects.ok)
        )

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"ok": self.ok, **asdict(self)}

    def write(self, path: Path) -> None:
        """Write the report to `path` as JSON, creating its folder."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def verify(stores: Stores, *, with_objects: bool = True) -> VerifyReport:
    """Compare every table, every cross-service reference and, unless told not to, every object."""
    tables = [_compare_table(stores.source, stores.targets[table.target], table) for table in TABLES]
    orphans = [_find_orphans(stores, check) for check in ORPHAN_CHECKS]
    objects = _inventory_objects(stores) if with_objects else None
    return VerifyReport(tables, orphans, objects, measure_lag(stores.source).entries)


def _row_digest(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("md5(ROW({})::text)").format(column_list(columns))


def _chunk_digests(
    connection: Connection, table: str, columns: tuple[str, ...]
) -> dict[int, tuple[int, str]]:
    query = sql.SQL(
        "SELECT id / {size} AS chunk, count(*), md5(string_agg({digest}, '' ORDER BY id))"
        " FROM {table} GROUP BY 1"
    ).format(size=sql.Literal(CHUNK_IDS), digest=_row_digest(columns), table=sql.Identifier(table))
    with connection.transaction():
        return {row[0]: (row[1], row[2]) for row in connection.execute(query)}


def _row_digests(connection: Connection, table: str, columns: tuple[str, ...], chunk: int) -> dict[int, str]:
    query = sql.SQL("SELECT id, {digest} FROM {table} WHERE id >= %s AND id < %s").format(
        digest=_row_digest(columns), table=sql.Identifier(table)
    )
    with connection.transaction():
        return {
            row[0]: row[1] for row in connection.execute(query, (chunk * CHUNK_IDS, (chunk + 1) * CHUNK_IDS))
        }


def _compare_table(source: Connection, target: Connection, table: TableMapping) -> TableResult:
    source_chunks = _chunk_digests(source, table.source_table, table.source_columns)
    target_chunks = _chunk_digests(target, table.target_table, table.target_columns)
    result = TableResult(
        table=table.source_table,
        target=f"{table.target.value}.{table.target_table}",
        source_rows=sum(count for count, _ in source_chunks.values()),
        target_rows=sum(count for count, _ in target_chunks.values()),
        chunks=len(source_chunks.keys() | target_chunks.keys()),
    )
    for chunk in sorted(source_chunks.keys() | target_chunks.keys()):
        if source_chunks.get(chunk) == target_chunks.get(chunk):
            continue
        result.differing_chunks += 1
        expected = _row_digests(source, table.source_table, table.source_columns, chunk)
        found = _row_digests(target, table.target_table, table.target_columns, chunk)
        for row_id in sorted(expected.keys() | found.keys()):
            if row_id not in found:
                result.missing_count += 1
                _name(result.missing, row_id)
            elif row_id not in expected:
                result.extra_count += 1
                _name(result.extra, row_id)
            elif expected[row_id] != found[row_id]:
                result.changed_count += 1
                _name(result.changed, row_id)
    return result


def _find_orphans(stores: Stores, check: OrphanCheck) -> OrphanCheckResult:
    referring = stores.targets[check.target]
    referenced = stores.targets[check.referenced_target]
    result = OrphanCheckResult(check.name)
    select = sql.SQL("COPY (SELECT DISTINCT {column} FROM {table}) TO STDOUT (FORMAT BINARY)").format(
        column=sql.Identifier(check.column), table=sql.Identifier(check.table)
    )
    with referenced.transaction():
        referenced.execute("CREATE TEMP TABLE referenced_ids (id bigint PRIMARY KEY) ON COMMIT DROP")
        pipe_copy(
            referring, referenced, select, sql.SQL("COPY referenced_ids (id) FROM STDIN (FORMAT BINARY)")
        )
        missing = referenced.execute(
            sql.SQL(
                "SELECT wanted.id FROM referenced_ids AS wanted WHERE NOT EXISTS"
                " (SELECT 1 FROM {table} AS present WHERE present.id = wanted.id) ORDER BY wanted.id"
            ).format(table=sql.Identifier(check.referenced_table))
        )
        for (row_id,) in missing:
            result.orphan_count += 1
            _name(result.orphans, row_id)
    return result


def _inventory_objects(stores: Stores, *, noting_equal_keys_in: set[str] | None = None) -> ObjectInventory:
    standings = inventory(
        ObjectTransfer.of(stores),
        named_object_keys(stores.targets[OBJECTS_TARGET]),
        # In a shared bucket, the monolith's objects of rows not migrated yet are not the
        # migration's to judge: extra objects count only where the buckets differ.
        judge_extras=stores.buckets_differ,
    )
    if noting_equal_keys_in is None:
        return _tally(standings)
    equal = noting_equal_keys_in

    def noting(items: Iterable[tuple[str, Standing, bool]]) -> Iterator[tuple[str, Standing, bool]]:
        for key, standing, hashed in items:
            if standing is Standing.EQUAL:
                equal.add(key)
            yield key, standing, hashed

    return _tally(noting(standings))


def inventory_objects(
    transfer: ObjectTransfer, named: Iterable[str], *, judge_extras: bool = True
) -> ObjectInventory:
    """Compare the named keys (sorted in byte order) across both buckets, and find unnamed objects."""
    return _tally(inventory(transfer, named, judge_extras=judge_extras))


def inventory_objects_of(stores: Stores, keys: Iterable[str]) -> ObjectInventory:
    """Compare a few named keys across both buckets, a head of each: no listing, extras not judged."""
    return _tally(standing_of_keys(ObjectTransfer.of(stores), keys))


@dataclass(frozen=True)
class ObjectCheck:
    """A listing-based inventory of every named object, and the keys it found equal on both sides.

    Object keys are never reused (each names a new object, `photos/<uuid>`), and an object
    is never rewritten under its key, so a key found equal stays equal for as long as a
    photo names it: a later check need only look at the keys named since (`check_objects`'
    caller, a cutover's freeze).
    """

    inventory: ObjectInventory
    equal_keys: frozenset[str]


def check_objects(stores: Stores) -> ObjectCheck:
    """Every object the target's photos name, compared from listings, with the keys found equal."""
    equal: set[str] = set()
    found = _inventory_objects(stores, noting_equal_keys_in=equal)
    return ObjectCheck(found, frozenset(equal))


def _tally(standings: Iterable[tuple[str, Standing, bool]]) -> ObjectInventory:
    result = ObjectInventory()
    for key, standing, _hashed in standings:
        if standing is not Standing.EXTRA:
            result.checked += 1
        if standing is Standing.MISSING:
            result.missing_count += 1
            _name_in_order(result.missing, key)
        elif standing is Standing.DIFFERENT:
            result.different_count += 1
            _name_in_order(result.different, key)
        elif standing is Standing.MISSING_IN_SOURCE:
            result.missing_in_source_count += 1
            _name_in_order(result.missing_in_source, key)
        elif standing is Standing.EXTRA:
            result.extra_count += 1
            _name_in_order(result.extra, key)
    return result


def _name_in_order(names: list[str], key: str) -> None:
    """Keep the NAMED first keys in key order, whatever order they arrive in (hashing finishes late)."""
    bisect.insort(names, key)
    del names[NAMED:]


def _name(names: list[Any], item: Any) -> None:
    if len(names) < NAMED:
        names.append(item)


def render(report: VerifyReport) -> str:
    """The report as a table for a terminal."""
    lines = [
        f"{'table':<10}{'source rows':>13}{'target rows':>13}{'changed':>9}{'missing':>9}{'extra':>7}  result"
    ]
    for result in report.tables:
        lines.append(
            f"{result.table:<10}{result.source_rows:>13,}{result.target_rows:>13,}{result.changed_count:>9,}"
            f"{result.missing_count:>9,}{result.extra_count:>7,}  {'ok' if result.ok else 'DIFFERENT'}"
        )
        for kind in ("changed", "missing", "extra"):
            ids = getattr(result, kind)
            if ids:
                lines.append(f"  {kind} ids: {', '.join(map(str, ids))}")
    for orphans in report.orphans:
        status = (
            "ok"
            if orphans.ok
            else f"{orphans.orphan_count:,} missing users: {', '.join(map(str, orphans.orphans))}"
        )
        lines.append(f"orphans   {orphans.check}: {status}")
    if report.objects is not None:
        objects = report.objects
        lines.append(
            f"objects   {objects.checked:,} checked, {objects.missing_count:,} missing,"
            f" {objects.different_count:,} different, {objects.extra_count:,} extra,"
            f" {objects.missing_in_source_count:,} missing in source: {'ok' if objects.ok else 'DIFFERENT'}"
        )
        for kind in ("missing", "different", "extra", "missing_in_source"):
            keys = getattr(objects, kind)
            if keys:
                lines.append(f"  {kind.replace('_', ' ')}: {', '.join(keys)}")
    else:
        lines.append("objects   not checked (--skip-objects)")
    if report.pending_changes:
        lines.append(
            f"note      {report.pending_changes:,} changes not synced yet: run `snappy migrate sync`"
        )
    lines.append(
        "Verification passed: no differences." if report.ok else "Verification FAILED: differences above."
    )
    return "\n".join(lines)
