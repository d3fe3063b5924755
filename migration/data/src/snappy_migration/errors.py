"""The data migration's errors: each says in one line what is wrong and what to do.

MigrationError
├── StoreUnreachable      a database or the object store does not answer (wrong URL, down)
├── SchemaMissing         a database lacks the tables it needs; names the command that creates them
├── ConflictingRows       a target already holds rows that differ from the source's
├── NotReady              a step runs before the one it needs (sync before backfill finished)
└── MissingObject         a photo's object is absent from the source bucket
"""

from __future__ import annotations

__all__ = [
    "ConflictingRows",
    "MigrationError",
    "MissingObject",
    "NotReady",
    "SchemaMissing",
    "StoreUnreachable",
]


class MigrationError(Exception):
    """Something the migration cannot go on with; the message is one line for the operator."""


class StoreUnreachable(MigrationError):
    """A database or the object store does not answer."""


class SchemaMissing(MigrationError):
    """A database lacks a table the migration reads or writes."""


class ConflictingRows(MigrationError):
    """A target already holds rows that differ from the source's: the migration will not overwrite them."""


class NotReady(MigrationError):
    """A step was asked for before the step it depends on finished."""


class MissingObject(MigrationError):
    """A photo still in the source has no object in the source bucket."""
