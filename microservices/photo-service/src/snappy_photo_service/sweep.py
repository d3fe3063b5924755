"""`sweep-objects`: delete the objects no photo row references, once older than a grace period.

An upload stores its original and its thumbnail, then commits its row, and deletes the
objects when the row cannot be written. A process killed in between (SIGKILL, OOM, a lost
node) runs no compensation, and an S3 outage can fail the compensating delete too: both
leave objects that no row references. No user sees them; this sweep reclaims them.

How it works, in bounded memory whatever the bucket's size: the bucket is listed one
ListObjectsV2 page (1,000 keys) at a time, under the prefixes uploads write to; for each
page one query asks the database which of those keys a photo row references
(`photos.object_key`, `photos.thumbnail_key`, both unique, so indexed); the keys that no
row references and that were last written before the cutoff are deleted with
DeleteObjects, 1,000 keys a call. Memory holds one page and at most two batches of keys.

Why an upload that commits during the sweep cannot lose its objects: an object is deleted
only if it was unreferenced when its page was checked, which is after it was listed, AND
was written before `cutoff = start of the sweep - grace`. An upload that stored an object
at time T commits its row by T + (the longest an upload takes), which the grace must
exceed; the command refuses a grace below the request budget, and its default (15
minutes) is far above any upload. So an object written before the cutoff belongs to an
upload that had committed, or had failed for good, before the sweep started, thus before
the check: a committed row is seen by the check (each check is a new statement, and READ
COMMITTED sees every commit before it), so its objects are kept. An object of an upload
still in flight is younger than the grace, so it is kept whatever the check said. The
object's time is the store's clock and the cutoff the sweeper's: the grace also absorbs
their skew.

Do not run it while this version's bucket is shared with the other version (a data
migration can use one bucket for both): the other version's objects have no row here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from snappy_photo_service.config import ConfigurationError, Settings
from snappy_photo_service.models import Photo
from snappy_photo_service.storage import BATCH_KEYS, ObjectStorage, StorageError
from snappy_plumbing.database import Database

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "UPLOAD_PREFIXES",
    "SweepSummary",
    "add_sweep_arguments",
    "check_grace",
    "referenced_keys",
    "sweep_objects",
    "sweep_unreferenced_objects",
]

# Well above the request budget (15 s by default) and any upload, slow stores included.
DEFAULT_GRACE_SECONDS = 15 * 60
# Where uploads store their objects (photos.py); anything else in the bucket is not ours.
UPLOAD_PREFIXES = ("photos/", "thumbnails/")
COMMAND = "sweep-objects"


@dataclass
class SweepSummary:
    """What one sweep counted so far."""

    dry_run: bool = False
    listed: int = 0
    referenced: int = 0
    unreferenced: int = 0
    # unreferenced and older than the grace: deleted, or what a dry run would delete
    due: int = 0
    deleted: int = 0
    kept_for_grace: int = 0

    def line(self) -> str:
        """The one-line summary the command prints."""
        deleted = f"0 (dry run: {self.due} due)" if self.dry_run else str(self.deleted)
        return (
            f"{COMMAND}: objects listed {self.listed}, referenced {self.referenced},"
            f" unreferenced {self.unreferenced}, deleted {deleted}, kept for grace {self.kept_for_grace}"
        )


def check_grace(grace_seconds: int, request_budget_seconds: float) -> None:
    """ConfigurationError when the grace is shorter than the request budget."""
    if grace_seconds < request_budget_seconds:
        raise ConfigurationError(
            f"--grace-seconds {grace_seconds} is shorter than the request budget"
            f" ({request_budget_seconds} s, SNAPPY_REQUEST_BUDGET_SECONDS): an upload in flight"
            " has its objects and no row yet"
        )


def referenced_keys(engine: Engine, keys: list[str]) -> set[str]:
    """Those of `keys` that a photo row references, as original or thumbnail."""
    if not keys:
        return set()
    query = union_all(
        select(Photo.object_key).where(Photo.object_key.in_(keys)),
        select(Photo.thumbnail_key).where(Photo.thumbnail_key.in_(keys)),
    )
    # A new connection's transaction per page: this statement sees every row committed before it.
    with engine.connect() as connection:
        return set(connection.scalars(query))


def sweep_unreferenced_objects(
    storage: ObjectStorage,
    engine: Engine,
    *,
    grace_seconds: float,
    dry_run: bool = False,
    summary: SweepSummary | None = None,
    now: datetime | None = None,
) -> SweepSummary:
    """Delete every object under UPLOAD_PREFIXES that no row references and is older than the grace.

    `summary` (filled in as the sweep goes, so a caller still has the counts after an
    error) may be given; it is returned. `now` is when the grace is counted back from:
    the current time, unless a test pins it. Raises StorageError and SQLAlchemyError.
    """
    counts = summary if summary is not None else SweepSummary()
    counts.dry_run = dry_run
    # Taken before anything is listed: the module docstring says why.
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=grace_seconds)
    due: list[str] = []
    for prefix in UPLOAD_PREFIXES:
        for page in storage.list_pages(prefix):
            referenced = referenced_keys(engine, [item.key for item in page])
            for item in page:
                counts.listed += 1
                if item.key in referenced:
                    counts.referenced += 1
                    continue
                counts.unreferenced += 1
                if item.last_modified < cutoff:
                    counts.due += 1
                    due.append(item.key)
                else:
                    counts.kept_for_grace += 1
            while len(due) >= BATCH_KEYS:
                _delete(storage, due[:BATCH_KEYS], dry_run, counts)
                del due[:BATCH_KEYS]
    _delete(storage, due, dry_run, counts)
    return counts


def _delete(storage: ObjectStorage, keys: list[str], dry_run: bool, counts: SweepSummary) -> None:
    if dry_run or not keys:
        return
    storage.delete_batch(keys)
    counts.deleted += len(keys)


def _grace(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of seconds, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"at least 0, got {value}")
    return value


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `sweep-objects`."""
    parser.add_argument(
        "--grace-seconds",
        type=_grace,
        default=DEFAULT_GRACE_SECONDS,
        help=(
            "delete only objects older than this (default %(default)s); may not be shorter"
            " than the request budget, since an upload in flight has objects and no row yet"
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")


def sweep_objects(grace_seconds: int, *, dry_run: bool, environ: Mapping[str, str] | None = None) -> int:
    """Run the sweep with this deployable's configuration; print one line; the exit status."""
    summary = SweepSummary(dry_run=dry_run)
    database: Database | None = None
    try:
        settings = Settings.from_environ(environ)
        check_grace(grace_seconds, settings.request_budget_seconds)
        try:
            storage = ObjectStorage(settings.s3)
        except ValueError as exc:  # botocore refuses a malformed endpoint URL
            raise ConfigurationError(f"SNAPPY_S3_ENDPOINT_URL: {exc}") from exc
        database = Database(settings.database_url, settings.database)
        # Before any listing: an unreachable database is an error even when the bucket is empty.
        database.ping()
        sweep_unreferenced_objects(
            storage, database.engine, grace_seconds=grace_seconds, dry_run=dry_run, summary=summary
        )
    except ConfigurationError as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2
    except (StorageError, SQLAlchemyError) as exc:
        # One line: SQLAlchemy appends the statement and a link on lines of their own.
        reason = " ".join(str(exc).splitlines()[0].split()) if str(exc) else type(exc).__name__
        print(
            f"{COMMAND}: {reason} (stopped after listing {summary.listed} and deleting {summary.deleted})",
            file=sys.stderr,
        )
        return 2
    finally:
        if database is not None:
            database.dispose()
    print(summary.line())
    return 0
