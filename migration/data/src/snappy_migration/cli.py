"""`snappy migrate`: plan, backfill, sync, verify, status, run and move-back, from the command line.

Each store is given as an option or in the environment (`SNAPPY_MIGRATE_*`), e.g. from a
Kubernetes Job. A launcher may name default stores for when none is given: the developer's
`snappy migrate` uses the local stack that `snappy up --stack both` runs (snappy_devstack).

`move-back --group G` is the way back across a data cutover, run on its own (a cluster's
`move-back-G` Job, deploy/README.md "Roll back"): with G's writes frozen and the ownership
phase still giving G to its service, it makes the monolith's tables (and bucket) of G the
service's (`reverse.move_back`), then verifies them at the phase before the service owned
G. It leaves the ownership phase as it is: recording the earlier phase is the next step.

Exit status: 0 done; 1 verify found differences; 2 the migration cannot go on (a wrong
URL, a missing schema, conflicting rows, a group the monolith owns already: the message
says which); 130 interrupted (the work done so far is checkpointed: run the same command
again to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from psycopg import sql

from snappy_migration import checkpoints
from snappy_migration.backfill import DEFAULT_CHUNK_ROWS, OBJECTS_STREAM, backfill
from snappy_migration.errors import MigrationError
from snappy_migration.mapping import OBJECTS_TARGET, TABLES
from snappy_migration.phases import SERVICE_OWNS_FROM, read_ownership_phase, scope_lines, verify_at_phase
from snappy_migration.reverse import GROUPS, MovedBack, move_back
from snappy_migration.stores import (
    Connection,
    Endpoints,
    ObjectStore,
    Stores,
    claim_migration,
    open_stores,
)
from snappy_migration.sync import DEFAULT_BATCH_ENTRIES, measure_lag, sync
from snappy_migration.verify import REPORT_FILE, VerifyReport, render, verify
from snappy_topology import PartName

__all__ = [
    "EXIT_DIFFERENCES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "DefaultStores",
    "main",
    "resolve_endpoints",
]

EXIT_DIFFERENCES = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130
_WRITING_COMMANDS = frozenset({"backfill", "sync", "run", "move-back"})
# Ctrl-C, and a Kubernetes Job being stopped.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Option, environment variable, and what it names.
_STORE_OPTIONS = {
    "source_database_url": ("SNAPPY_MIGRATE_SOURCE_DATABASE_URL", "the monolith's database"),
    "users_database_url": ("SNAPPY_MIGRATE_USERS_DATABASE_URL", "user-service's database"),
    "photos_database_url": ("SNAPPY_MIGRATE_PHOTOS_DATABASE_URL", "photo-service's database"),
    "s3_endpoint_url": (
        "SNAPPY_MIGRATE_S3_ENDPOINT_URL",
        "the S3 endpoint of the monolith's bucket (and of photo-service's, unless --target-s3-endpoint-url)",
    ),
    "source_bucket": ("SNAPPY_MIGRATE_SOURCE_BUCKET", "the monolith's bucket"),
    "target_bucket": ("SNAPPY_MIGRATE_TARGET_BUCKET", "photo-service's bucket"),
}
_S3_CREDENTIALS = ("SNAPPY_MIGRATE_S3_ACCESS_KEY_ID", "SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY")
_S3_REGION = "SNAPPY_MIGRATE_S3_REGION"
# Photo-service's bucket on another endpoint or account: objects then stream through the
# tool. Each setting left out is the source's; all left out, one store serves both buckets
# and objects copy server-side.
_TARGET_S3_ENDPOINT = (
    "target_s3_endpoint_url",
    "SNAPPY_MIGRATE_TARGET_S3_ENDPOINT_URL",
    "the S3 endpoint of photo-service's bucket when it is not the monolith's",
)
_TARGET_S3_CREDENTIALS = (
    "SNAPPY_MIGRATE_TARGET_S3_ACCESS_KEY_ID",
    "SNAPPY_MIGRATE_TARGET_S3_SECRET_ACCESS_KEY",
)
_TARGET_S3_REGION = "SNAPPY_MIGRATE_TARGET_S3_REGION"


@dataclass(frozen=True)
class DefaultStores:
    """The stores a launcher offers when no option or variable names one, and where reports go then."""

    # Called only when needed; raises MigrationError (saying how to get one) when there is none.
    endpoints: Callable[[], Endpoints]
    report_dir: Path
    # Closes --help: where the stores come from when none is given.
    hint: str = ""


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "snappy-migrate",
    default_stores: DefaultStores | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one migration command; return the exit status."""
    arguments = _parser(prog, default_stores).parse_args(argv)
    environ = os.environ if environ is None else environ
    # Both stop signals end the work as KeyboardInterrupt, between two statements or inside one
    # (psycopg cancels it on the server). SIGINT is set too, not left to Python: a process that
    # starts with SIGINT ignored (a background job of a script) would otherwise ignore Ctrl-C.
    previous = {number: signal.signal(number, signal.default_int_handler) for number in _STOP_SIGNALS}
    try:
        endpoints = resolve_endpoints(arguments, environ, default_stores)
        report_dir = (
            default_stores.report_dir
            if default_stores is not None and not _names_any_store(arguments, environ)
            else Path.cwd()
        )
        report_path = arguments.report or report_dir / REPORT_FILE
        with open_stores(endpoints) as stores:
            if arguments.command in _WRITING_COMMANDS:
                claim_migration(stores.source)
            return _COMMANDS[arguments.command](stores, arguments, report_path)
    except MigrationError as error:
        _say(f"{prog} {arguments.command}: {error}", error=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if arguments.command == "move-back":
            # One transaction: an interrupted move kept no row; the objects it copied are reused.
            _say(
                f"\n{prog} move-back: interrupted; no row was moved back."
                f" Run `{prog} move-back --group {arguments.group}` again.",
                error=True,
            )
        else:
            _say(
                f"\n{prog} {arguments.command}: interrupted; what was done is checkpointed."
                f" Run `{prog} {arguments.command}` again to resume.",
                error=True,
            )
        return EXIT_INTERRUPTED
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def resolve_endpoints(
    arguments: argparse.Namespace,
    environ: Mapping[str, str],
    default_stores: DefaultStores | None = None,
) -> Endpoints:
    """Each store from its option, else its environment variable; all of them, or the defaults."""
    given = {
        name: getattr(arguments, name) or environ.get(variable, "").strip() or None
        for name, (variable, _) in _STORE_OPTIONS.items()
    }
    if all(value is None for value in given.values()) and default_stores is not None:
        return _with_target_store(default_stores.endpoints(), arguments, environ)
    missing = [
        f"--{name.replace('_', '-')} (or {variable}) for {what}"
        for name, (variable, what) in _STORE_OPTIONS.items()
        if given[name] is None
    ]
    if missing:
        raise MigrationError("missing " + "; ".join(missing))
    access_key, secret_key = (environ.get(name, "") for name in _S3_CREDENTIALS)
    if not access_key or not secret_key:
        raise MigrationError(f"set {' and '.join(_S3_CREDENTIALS)} for the S3 endpoint")
    endpoints = Endpoints(
        source_database_url=str(given["source_database_url"]),
        target_database_urls={
            PartName.USER_SERVICE: str(given["users_database_url"]),
            PartName.PHOTO_SERVICE: str(given["photos_database_url"]),
        },
        object_store=ObjectStore(
            endpoint_url=str(given["s3_endpoint_url"]),
            region=environ.get(_S3_REGION, "us-east-1"),
            access_key_id=access_key,
            secret_access_key=secret_key,
        ),
        source_bucket=str(given["source_bucket"]),
        target_bucket=str(given["target_bucket"]),
    )
    return _with_target_store(endpoints, arguments, environ)


def _with_target_store(
    endpoints: Endpoints, arguments: argparse.Namespace, environ: Mapping[str, str]
) -> Endpoints:
    """`endpoints` with photo-service's bucket on the store the target S3 settings name, if any."""
    name, variable, _ = _TARGET_S3_ENDPOINT
    endpoint_url = getattr(arguments, name, None) or environ.get(variable, "").strip()
    access_key, secret_key = (environ.get(name, "") for name in _TARGET_S3_CREDENTIALS)
    region = environ.get(_TARGET_S3_REGION, "").strip()
    if bool(access_key) != bool(secret_key):
        raise MigrationError(f"set both {' and '.join(_TARGET_S3_CREDENTIALS)}, or neither")
    if not (endpoint_url or access_key or region):
        return endpoints
    source = endpoints.object_store
    target = ObjectStore(
        endpoint_url=endpoint_url or source.endpoint_url,
        region=region or source.region,
        access_key_id=access_key or source.access_key_id,
        secret_access_key=secret_key or source.secret_access_key,
    )
    return replace(endpoints, target_object_store=None if target == source else target)


def _names_any_store(arguments: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    return any(
        getattr(arguments, name) or environ.get(variable, "").strip()
        for name, (variable, _) in _STORE_OPTIONS.items()
    )


def _plan(stores: Stores, arguments: argparse.Namespace, _report: Path) -> int:
    """What would move, and what is done already; writes nothing."""
    done = {target: checkpoints.read_checkpoints(connection) for target, connection in stores.targets.items()}
    _say(f"{'table':<10}{'source rows':>13}  {'target':<22}{'target rows':>13}  backfill")
    for table in TABLES:
        _say(
            f"{table.source_table:<10}{_count(stores.source, table.source_table):>13,}"
            f"  {table.target.value + '.' + table.target_table:<22}"
            f"{_count(stores.targets[table.target], table.target_table):>13,}"
            f"  {_state(done[table.target].get(table.stream))}"
        )
    done_objects = done[OBJECTS_TARGET].get(OBJECTS_STREAM)
    endpoints = stores.endpoints
    if stores.buckets_differ:
        how = (
            f"copied server-side from bucket {endpoints.source_bucket!r} to {endpoints.target_bucket!r}"
            f" at {endpoints.object_store.endpoint_url}"
            if endpoints.server_side_copy
            else f"streamed from bucket {endpoints.source_bucket!r} at {endpoints.object_store.endpoint_url}"
            f" to {endpoints.target_bucket!r} at {endpoints.target_store.endpoint_url}"
        )
        _say(f"objects: {how}; {_objects_state(done_objects)}")
    else:
        _say(f"objects: both services use bucket {endpoints.source_bucket!r}; nothing to copy")
    _say(f"change log: {measure_lag(stores.source).entries:,} changes waiting for sync")
    _say("Nothing was written. `run` does backfill, then sync until the change log is empty, then verify.")
    return 0


def _backfill(stores: Stores, arguments: argparse.Namespace, _report: Path) -> int:
    summary = backfill(stores, chunk_rows=arguments.chunk_rows, with_objects=not arguments.skip_objects)
    moved = ", ".join(f"{table} {rows:,}" for table, rows in summary.rows.items()) or "nothing left to copy"
    _say(f"Backfill done: rows copied: {moved}; objects copied: {summary.objects:,}.")
    for table, rows in summary.deferred.items():
        _say(f"  {rows:,} {table} wait for sync: their parent rows arrived after the backfill passed them.")
    return 0


def _sync(stores: Stores, arguments: argparse.Namespace, _report: Path) -> int:
    if arguments.follow:
        _say("Following the change log; Ctrl-C stops (every applied batch is kept).")
    summary = sync(stores, batch_entries=arguments.batch_entries, follow=arguments.follow)
    _say(
        f"Sync done: {summary.entries:,} changes applied ({_per_table(summary.upserted)} written,"
        f" {_per_table(summary.deleted)} deleted); lag now {measure_lag(stores.source).entries:,} changes."
    )
    return 0


def _verify(stores: Stores, arguments: argparse.Namespace, report_path: Path) -> int:
    return _verify_and_report(stores, report_path, with_objects=not arguments.skip_objects)


def _status(stores: Stores, arguments: argparse.Namespace, _report: Path) -> int:
    for target, connection in stores.targets.items():
        for stream, state in sorted(checkpoints.read_checkpoints(connection).items()):
            shown = _objects_state(state) if stream == OBJECTS_STREAM else _state(state)
            _say(f"{target.value:<14}{stream:<14}{shown}")
    lag = measure_lag(stores.source)
    oldest = f", oldest from {lag.oldest.isoformat(timespec='seconds')}" if lag.oldest else ""
    _say(f"change log: {lag.entries:,} changes waiting for sync{oldest}")
    return 0


def _run(stores: Stores, arguments: argparse.Namespace, report_path: Path) -> int:
    _backfill(stores, arguments, report_path)
    arguments.follow = False
    _sync(stores, arguments, report_path)
    return _verify_and_report(stores, report_path, with_objects=not arguments.skip_objects)


def _move_back(stores: Stores, arguments: argparse.Namespace, report_path: Path) -> int:
    """The group's data from its service back into the monolith, verified as the monolith's again."""
    group: str = arguments.group
    tables = GROUPS[group]
    # move_back refuses first, writing nothing, unless the recorded phase gives the group to its service.
    moved = move_back(stores, group)
    _say(_moved_back_line(moved))
    earlier = SERVICE_OWNS_FROM[tables[0]] - 1
    report = verify_at_phase(stores, earlier, with_objects=group == "photos", only_tables=tables)
    compared = ", ".join(tables)
    _say(f"phase     {earlier}: {compared} compared as the monolith's again; the other tables are not")
    _say(render(report))
    report.write(report_path)
    _say(f"Report: {report_path}")
    if not report.ok:
        return EXIT_DIFFERENCES
    recorded = read_ownership_phase(stores.source)
    _say(
        f"The ownership phase is still {recorded}: record phase {earlier} next (the `ownership-phase`"
        f" Job of phase {earlier}'s overlay), while {group}'s writes stay frozen."
    )
    return 0


def _moved_back_line(moved: MovedBack) -> str:
    """What a move back wrote, in one line, as the other commands report theirs."""
    if not moved.changed_anything:
        return (
            f"Move back of {moved.group} done: nothing to move back; the monolith holds the service's copy."
        )
    written = {table: rows for table, rows in moved.rows_upserted.items() if rows}
    deleted = {table: rows for table, rows in moved.rows_deleted.items() if rows}
    return (
        f"Move back of {moved.group} done: rows written: {_per_table(written)};"
        f" rows deleted: {_per_table(deleted)};"
        f" objects copied: {moved.objects_copied:,}, deleted: {moved.objects_deleted:,}."
    )


def _verify_and_report(stores: Stores, report_path: Path, *, with_objects: bool) -> int:
    # Scoped by the phase the monolith's database records (snappy_migration.phases).
    phase = read_ownership_phase(stores.source)
    report: VerifyReport = (
        verify_at_phase(stores, phase, with_objects=with_objects)
        if phase
        else verify(stores, with_objects=with_objects)
    )
    if phase:
        _say("\n".join(scope_lines(phase)))
    _say(render(report))
    report.write(report_path)
    _say(f"Report: {report_path}")
    return 0 if report.ok else EXIT_DIFFERENCES


_COMMANDS: dict[str, Callable[[Stores, argparse.Namespace, Path], int]] = {
    "plan": _plan,
    "backfill": _backfill,
    "sync": _sync,
    "verify": _verify,
    "status": _status,
    "run": _run,
    "move-back": _move_back,
}


def _parser(prog: str, default_stores: DefaultStores | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Move the monolith's users, photos, shares and objects into the services' stores,"
        " and back.",
        epilog=default_stores.hint if default_stores is not None else None,
    )
    stores = parser.add_argument_group("stores (each also from its SNAPPY_MIGRATE_* variable)")
    for name, (variable, what) in _STORE_OPTIONS.items():
        stores.add_argument(
            f"--{name.replace('_', '-')}",
            metavar="URL" if name.endswith("url") else "NAME",
            help=f"{what} ({variable})",
        )
    name, variable, what = _TARGET_S3_ENDPOINT
    stores.add_argument(
        f"--{name.replace('_', '-')}",
        metavar="URL",
        help=f"{what} ({variable}; credentials from {' and '.join(_TARGET_S3_CREDENTIALS)},"
        f" region from {_TARGET_S3_REGION}, each the source's if unset)",
    )
    stores.add_argument(
        "--report", type=Path, metavar="FILE", help=f"where verify writes its JSON report ({REPORT_FILE})"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("plan", help="show what would move and what is done; write nothing")
    backfill_command = commands.add_parser("backfill", help="copy every row, then every object; resumable")
    sync_command = commands.add_parser(
        "sync", help="apply the changes the monolith logged until now; --follow: keep applying"
    )
    verify_command = commands.add_parser("verify", help="compare both sides; exit 1 on any difference")
    commands.add_parser("status", help="show checkpoints and the change log's lag")
    run_command = commands.add_parser("run", help="backfill, then sync until caught up, then verify")
    move_back_command = commands.add_parser(
        "move-back",
        help="hand a group back to the monolith: its service's rows and objects into the monolith's"
        " stores, then verify; the ownership phase is left as it is",
        description="The way back across a data cutover. Run it with the group's writes frozen and"
        " while the ownership phase the monolith's database records still gives the group to its"
        " service (users: phase 1 or above; photos: 2 or above); it refuses otherwise. It makes the"
        " monolith's tables of the group (and, for photos, its bucket) equal to the service's, then"
        " verifies them at the phase before the service owned the group (users: 0; photos: 1) and"
        " exits 1 on any difference. It does NOT change the ownership phase: record the earlier"
        " phase next (the `ownership-phase` Job of that phase's overlay). Safe to run again.",
    )
    move_back_command.add_argument(
        "--group", required=True, choices=sorted(GROUPS), help="the data to hand back to the monolith"
    )
    for command in (backfill_command, run_command):
        command.add_argument(
            "--chunk-rows",
            type=_positive,
            default=DEFAULT_CHUNK_ROWS,
            metavar="N",
            help=f"rows per COPY chunk and checkpoint (default {DEFAULT_CHUNK_ROWS:,})",
        )
    for command in (sync_command, run_command):
        command.add_argument(
            "--batch-entries",
            type=_positive,
            default=DEFAULT_BATCH_ENTRIES,
            metavar="N",
            help=f"change-log entries per batch (default {DEFAULT_BATCH_ENTRIES:,})",
        )
    sync_command.add_argument("--follow", action="store_true", help="keep applying new changes until Ctrl-C")
    for command in (backfill_command, verify_command, run_command):
        command.add_argument("--skip-objects", action="store_true", help="leave the objects out")
    return parser


def _count(connection: Connection, table: str) -> int:
    with connection.transaction():
        row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def _state(state: checkpoints.Checkpoint | None) -> str:
    if state is None:
        return "not started"
    if state.finished:
        return "finished"
    return f"resumes after id {state.last_id:,} ({state.rows:,} done)"


def _objects_state(state: checkpoints.Checkpoint | None) -> str:
    """The objects resume from the buckets' listings, not from an id: say how many are done."""
    if state is None or state.finished:
        return _state(state)
    return f"{state.rows:,} copied; the rest resumes from the buckets' listings"


def _per_table(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in counts.items()) or "none"


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return number


def _say(message: str, *, error: bool = False) -> None:
    print(message, file=sys.stderr if error else sys.stdout, flush=True)


if __name__ == "__main__":
    sys.exit(main())
