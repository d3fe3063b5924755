"""How fast the data migration's backfill moves rows, against the fastest copy a client can make.

    .venv/bin/python benchmarks/migration.py [--photos N] [--chunk-rows R] [--quiet]

PostgreSQL and S3 come from `snappy_devstack.backing`, as for the app and the tests
(`SNAPPY_DEV_POSTGRES_URL` and `SNAPPY_DEV_S3_*` are honoured; otherwise containers or
embedded servers are started). The run creates four fresh databases with the real
schemas (the monolith's; user-service's; photo-service's; a scratch one with both
services' schemas) and two empty buckets, seeds the monolith's database with N photos,
N/20 users and about N/2 shares, then measures, from this one client process:

- the ceiling: each table copied whole, in one transaction, from the monolith's database
  into the scratch database by binary `COPY ... TO STDOUT` piped into `COPY ... FROM STDIN`
  (`pipe_copy`, the same path the backfill's chunks take);
- the backfill: `snappy_migration.backfill.backfill`, rows only (`with_objects=False`);
- the verification: `snappy_migration.verify.verify`, rows and references only.

It prints the figures, the peak memory of this process, whether the targets were met,
and as its last line `ratio=X.XX`: the backfill's rows per second over the ceiling's.
Everything it created is dropped at the end, also after a failure or Ctrl-C.
Exit status: 0 done; 1 the verification found differences; 2 a backing service failed;
130 interrupted.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from snappy_devstack.backing import (
    BackingServiceError,
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
    provide_backing_services,
)
from snappy_devstack.bulk_seed import SHARES_PER_PHOTO, USERS_PER_PHOTO, seed_monolith_rows
from snappy_devstack.processes import cleanup_that_survives_interrupts
from snappy_migration.backfill import DEFAULT_CHUNK_ROWS, backfill
from snappy_migration.errors import MigrationError
from snappy_migration.mapping import TABLES
from snappy_migration.progress import Progress
from snappy_migration.stores import Endpoints, ObjectStore, connect, open_stores, pipe_copy
from snappy_migration.verify import render, verify
from snappy_topology import PartName

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPOSITORY_ROOT / ".snappy" / "benchmark"
DEFAULT_PHOTOS = 1_000_000
# The targets hold at this size; smaller runs print the same comparison for information.
TARGET_PHOTOS = 1_000_000
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 300.0

EXIT_DIFFERENCES = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130

AdminConnection = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class Measurement:
    """One timed step: rows per source table, and the seconds it took."""

    step: str
    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        """Rows over every table."""
        return sum(self.rows.values())

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.total / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class Databases:
    """The URLs of the four databases of one run."""

    monolith: str
    users: str
    photos: str
    scratch: str


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    arguments = _parser().parse_args(argv)
    # SIGTERM stops the run as Ctrl-C does: psycopg cancels the statement in flight, and the
    # databases and buckets are dropped, never half-dropped by a second Ctrl-C.
    with cleanup_that_survives_interrupts() as cleanup:
        try:
            return _run(arguments, cleanup)
        except KeyboardInterrupt:
            _note("interrupted; dropping what was created")
            return EXIT_INTERRUPTED
        except (BackingServiceError, MigrationError, psycopg.Error, subprocess.CalledProcessError) as error:
            _note(f"failed: {_describe(error)}")
            return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/migration.py",
        description="Time the data migration's backfill against a plain COPY of the same tables.",
    )
    parser.add_argument(
        "--photos",
        type=_positive_int,
        default=DEFAULT_PHOTOS,
        help=f"photos to seed (default {DEFAULT_PHOTOS:,}); users are N/20, shares about N/2",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"rows per backfill chunk (default {DEFAULT_CHUNK_ROWS:,}, the tool's)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines from the backfill")
    return parser


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run(arguments: argparse.Namespace, cleanup: ExitStack) -> int:
    photos: int = arguments.photos
    users = max(1, round(photos * USERS_PER_PHOTO))
    shares = max(1, round(photos * SHARES_PER_PHOTO))
    tag = secrets.token_hex(4)

    services = cleanup.enter_context(provide_backing_services(STATE_DIR, persistent=False))
    server = services.postgres_url
    _note(f"PostgreSQL and S3 from {services.source}; run {tag}")
    databases = Databases(
        monolith=_fresh_database(cleanup, server, f"snappy_benchmark_{tag}_monolith"),
        users=_fresh_database(cleanup, server, f"snappy_benchmark_{tag}_users"),
        photos=_fresh_database(cleanup, server, f"snappy_benchmark_{tag}_photos"),
        scratch=_fresh_database(cleanup, server, f"snappy_benchmark_{tag}_scratch"),
    )
    source_bucket = _fresh_bucket(cleanup, services, f"snappy-benchmark-{tag}-monolith")
    target_bucket = _fresh_bucket(cleanup, services, f"snappy-benchmark-{tag}-photos")

    _migrate("snappy_monolith", databases.monolith)
    _migrate("snappy_user_service", databases.users)
    _migrate("snappy_photo_service", databases.photos)
    # The ceiling copies into the same tables, with the same indexes, as the backfill.
    _migrate("snappy_user_service", databases.scratch)
    _migrate("snappy_photo_service", databases.scratch)

    _note(f"seeding {photos:,} photos, {users:,} users, about {shares:,} shares")
    started = time.perf_counter()
    seeded = seed_monolith_rows(databases.monolith, photos=photos, users=users, shares=shares)
    _note(f"seeded in {time.perf_counter() - started:.1f} s")

    server_settings = _describe_server(server)
    load_before = os.getloadavg()[0]
    _checkpoint(server)
    ceiling = _measure_ceiling(databases.monolith, databases.scratch)
    _checkpoint(server)
    endpoints = Endpoints(
        source_database_url=databases.monolith,
        target_database_urls={
            PartName.USER_SERVICE: databases.users,
            PartName.PHOTO_SERVICE: databases.photos,
        },
        object_store=ObjectStore(
            endpoint_url=services.s3.endpoint_url,
            region=services.s3.region,
            access_key_id=services.s3.access_key_id,
            secret_access_key=services.s3.secret_access_key,
        ),
        source_bucket=source_bucket,
        target_bucket=target_bucket,
    )
    with open_stores(endpoints) as stores:
        started = time.perf_counter()
        summary = backfill(
            stores,
            chunk_rows=arguments.chunk_rows,
            with_objects=False,
            progress=_silent_progress if arguments.quiet else Progress,
        )
        copied = Measurement("backfill", dict(summary.rows), time.perf_counter() - started)
        started = time.perf_counter()
        report = verify(stores, with_objects=False)
        checked = Measurement(
            "verify",
            {result.table: result.target_rows for result in report.tables},
            time.perf_counter() - started,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()[0]

    _print_figures(
        photos=photos,
        seeded=seeded,
        chunk_rows=arguments.chunk_rows,
        measurements=(ceiling, copied, checked),
        peak_mb=peak_mb,
        source=services.source,
        server_settings=server_settings,
        load=(load_before, load_after),
    )
    if summary.deferred:
        print(f"backfill left rows to sync (not expected here): {summary.deferred}")
    if not report.ok:
        print(render(report))
        print("verify FAILED: the backfill's copy differs from the monolith's rows")
    ratio = copied.rate / ceiling.rate
    _print_targets(photos=photos, ratio=ratio, peak_mb=peak_mb)
    print(f"ratio={ratio:.2f}", flush=True)
    return 0 if report.ok else EXIT_DIFFERENCES


def _fresh_database(cleanup: ExitStack, server: str, name: str) -> str:
    url = create_database(server, name, drop_existing=True)
    cleanup.callback(_release, f"database {name}", lambda: drop_database(server, name))
    return url


def _fresh_bucket(cleanup: ExitStack, services: BackingServices, name: str) -> str:
    create_bucket(services.s3, name)
    cleanup.callback(_release, f"bucket {name}", lambda: delete_bucket(services.s3, name))
    return name


def _release(what: str, release: Callable[[], None]) -> None:
    try:
        release()
    except BackingServiceError as error:
        _note(f"could not drop {what}: {_describe(error)}")


def _migrate(package: str, database_url: str) -> None:
    """Create a database's schema as its deployment does: `python -m <package> migrate`."""
    subprocess.run(  # noqa: S603 (this interpreter, a fixed module, no shell)
        [sys.executable, "-m", package, "migrate"],
        env={**os.environ, "SNAPPY_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


def _checkpoint(server: str) -> None:
    """Flush the server's dirty pages, so no step pays for the writes of the one before."""
    try:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        _note("CHECKPOINT not allowed for this role: the steps may share the cost of earlier writes")


def _describe_server(server: str) -> str:
    """The server's version and the settings that weigh most on bulk writes."""
    shown: dict[str, str] = {}
    with psycopg.connect(server, autocommit=True) as connection:
        for name in ("server_version", "shared_buffers", "max_wal_size", "synchronous_commit"):
            row = connection.execute("SELECT current_setting(%s)", (name,)).fetchone()
            shown[name] = str(row[0]) if row else "?"
    return (
        f"PostgreSQL {shown['server_version'].split()[0]}: shared_buffers {shown['shared_buffers']},"
        f" max_wal_size {shown['max_wal_size']}, synchronous_commit {shown['synchronous_commit']}"
    )


def _measure_ceiling(source_url: str, scratch_url: str) -> Measurement:
    """Each table whole, in one transaction, through the same binary COPY pipe the backfill uses."""
    rows: dict[str, int] = {}
    with connect(source_url, "monolith's") as source, connect(scratch_url, "scratch") as scratch:
        started = time.perf_counter()
        for table in TABLES:
            copy_out = sql.SQL("COPY {table} ({columns}) TO STDOUT (FORMAT BINARY)").format(
                table=sql.Identifier(table.source_table), columns=_columns(table.source_columns)
            )
            copy_in = sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)").format(
                table=sql.Identifier(table.target_table), columns=_columns(table.target_columns)
            )
            with scratch.transaction():
                rows[table.source_table] = pipe_copy(source, scratch, copy_out, copy_in)
        seconds = time.perf_counter() - started
    return Measurement("ceiling", rows, seconds)


def _columns(names: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _silent_progress(label: str, total: int, unit: str) -> Progress:
    return Progress(label, total, unit, stream=io.StringIO())


def _print_figures(
    *,
    photos: int,
    seeded: dict[str, int],
    chunk_rows: int,
    measurements: tuple[Measurement, ...],
    peak_mb: float,
    source: str,
    server_settings: str,
    load: tuple[float, float],
) -> None:
    tables = [table.source_table for table in TABLES]
    print()
    print(
        f"Snappy data migration, {photos:,} photos: "
        + ", ".join(f"{seeded.get(table, 0):,} {table}" for table in tables)
    )
    print(
        f"PostgreSQL and S3 from {source}; backfill chunks of {chunk_rows:,} rows."
        " Rows only: objects are not copied or checked (with_objects=False)."
    )
    print(
        f"{server_settings}; {os.cpu_count()} CPUs, load average (1 min)"
        f" {load[0]:.2f} before the ceiling, {load[1]:.2f} after the verify"
    )
    print()
    header = f"{'step':<10}" + "".join(f"{table:>12}" for table in tables)
    print(f"{header}{'rows':>12}{'seconds':>10}{'rows/s':>12}")
    for measurement in measurements:
        per_table = "".join(f"{measurement.rows.get(table, 0):>12,}" for table in tables)
        print(
            f"{measurement.step:<10}{per_table}{measurement.total:>12,}"
            f"{measurement.seconds:>10.2f}{measurement.rate:>12,.0f}"
        )
    print()
    print(
        "ceiling: a whole-table binary COPY TO STDOUT piped into COPY FROM STDIN per table"
        " (one transaction each) into a scratch database with the services' schemas."
    )
    print(
        f"peak memory: {peak_mb:,.1f} MB (maximum resident set of this one client process,"
        " which ran the seed, the ceiling, the backfill and the verify)"
    )


def _print_targets(*, photos: int, ratio: float, peak_mb: float) -> None:
    scope = "" if photos == TARGET_PHOTOS else f" (the targets are set for {TARGET_PHOTOS:,} photos)"
    ratio_met = "met" if ratio >= TARGET_RATIO else "NOT met"
    memory_met = "met" if peak_mb < TARGET_PEAK_MB else "NOT met"
    print(f"target ratio >= {TARGET_RATIO:.2f}: {ratio_met}{scope}")
    print(f"target peak memory < {TARGET_PEAK_MB:.0f} MB: {memory_met}{scope}")


def _describe(error: BaseException) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        output = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else ""
        lines = output.strip().splitlines()
        return f"{' '.join(map(str, error.cmd))} exited with {error.returncode}" + (
            f": {lines[-1]}" if lines else ""
        )
    return " ".join(str(error).split()) or type(error).__name__


def _note(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
