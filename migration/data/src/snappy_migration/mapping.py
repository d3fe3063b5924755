"""What moves where: the one declaration of source tables, target databases and columns.

Every other module reads this file instead of naming tables or columns itself, so a
team adapting the tool to its own schema changes this file and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from snappy_topology import JOBS, JobName, PartName

__all__ = [
    "CHANGE_LOG_TABLE",
    "OBJECTS_TABLE",
    "OBJECTS_TARGET",
    "OBJECT_KEY_COLUMNS",
    "ORPHAN_CHECKS",
    "TABLES",
    "TARGETS",
    "ColumnMapping",
    "OrphanCheck",
    "ParentReference",
    "TableMapping",
    "tables_of",
]


# The databases the migration writes to, named for the parts that own them (snappy_topology).
TARGETS: tuple[PartName, ...] = JOBS[JobName.DATA_MIGRATION].writes


@dataclass(frozen=True)
class ColumnMapping:
    """A source column and the target column it fills."""

    source: str
    target: str


@dataclass(frozen=True)
class ParentReference:
    """A column of a target table that must name an existing row of another table of the same target."""

    column: str
    table: str


@dataclass(frozen=True)
class TableMapping:
    """One source table, copied row for row into one table of one target database.

    The primary key is `id` on both sides and is preserved, so the services' ids are
    the monolith's and every reference between rows stays true.
    """

    source_table: str
    target: PartName
    target_table: str
    columns: tuple[ColumnMapping, ...]
    parent: ParentReference | None = None

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The source columns, in mapping order."""
        return tuple(column.source for column in self.columns)

    @property
    def target_columns(self) -> tuple[str, ...]:
        """The target columns, in mapping order."""
        return tuple(column.target for column in self.columns)

    @property
    def stream(self) -> str:
        """The name of this table's backfill checkpoint."""
        return f"rows:{self.target_table}"


@dataclass(frozen=True)
class OrphanCheck:
    """A column in one target that must name a row of a table in another target."""

    table: str
    column: str
    target: PartName
    referenced_target: PartName
    referenced_table: str

    @property
    def name(self) -> str:
        """`photos.owner_id -> users.id`, for reports."""
        return f"{self.table}.{self.column} -> {self.referenced_table}.id"


def _same(*names: str) -> tuple[ColumnMapping, ...]:
    return tuple(ColumnMapping(name, name) for name in names)


# In dependency order: a row's parents come in an earlier table (deletes run in reverse).
TABLES: tuple[TableMapping, ...] = (
    TableMapping(
        "users",
        PartName.USER_SERVICE,
        "users",
        _same("id", "username", "display_name", "password_hash", "created_at"),
    ),
    TableMapping(
        "photos",
        PartName.PHOTO_SERVICE,
        "photos",
        _same(
            "id",
            "owner_id",
            "caption",
            "visibility",
            "content_type",
            "width",
            "height",
            "size_bytes",
            "object_key",
            "thumbnail_key",
            "created_at",
        ),
    ),
    TableMapping(
        "shares",
        PartName.PHOTO_SERVICE,
        "shares",
        _same("id", "photo_id", "user_id", "created_at"),
        parent=ParentReference("photo_id", "photos"),
    ),
)

# The photos' objects: the target database and table whose rows name them, and the key columns.
OBJECTS_TARGET = PartName.PHOTO_SERVICE
OBJECTS_TABLE = "photos"
OBJECT_KEY_COLUMNS = ("object_key", "thumbnail_key")

# The references that crossed a foreign key in the monolith and cross a service boundary now.
ORPHAN_CHECKS: tuple[OrphanCheck, ...] = (
    OrphanCheck("photos", "owner_id", PartName.PHOTO_SERVICE, PartName.USER_SERVICE, "users"),
    OrphanCheck("shares", "user_id", PartName.PHOTO_SERVICE, PartName.USER_SERVICE, "users"),
)

# Written by the monolith's triggers (its migration 0002), read and emptied by `sync`.
CHANGE_LOG_TABLE = "change_log"


def tables_of(target: PartName) -> tuple[TableMapping, ...]:
    """The mappings that write to `target`, in dependency order."""
    return tuple(table for table in TABLES if table.target is target)
