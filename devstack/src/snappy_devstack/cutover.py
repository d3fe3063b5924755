"""`snappy cutover --to N`: move a running strangler stack one phase, with a write freeze.

Forward (N = current + 1), in this order:

1. **preconditions**: the edge and the monolith's database agree on the phase; every part
   of phase N has an address at the edge and answers `/readyz`; the services' stores are
   backfilled if they never were (a stack started at phase 0); the migration's change
   log is synced outside the freeze, and what is left of it (the lag) is under
   `--max-lag` entries; a verification scoped by the current phase passes; the moving
   route group's reads answer the same from its next owner as from its current one
   (a parity probe, after the parity tests' normalization). A precondition that fails
   refuses the cutover with one line, and nothing has changed.
2. **the freeze**: the edge refuses every write of the moving route group (503,
   `Retry-After`), its own API and the page forms that write its data, while reads keep
   flowing; the cutover then waits for the writes already in flight to finish.
3. **the final sync and a verify** of the moving data. The photos' objects are the
   exception to "in the freeze": both buckets are listed before it (forward, every named
   object compared; backward, every one copied back), and the freeze looks only at the
   keys named since, so it grows with the photos changed during the cutover, not with
   the bucket.
4. **the flip**: the edge routes by phase N (lane and front), then the monolith's database
   records the new ownership phase. Backward the other way round: the group's next owner
   owns it before the edge sends it there, and the previous one serves its reads until the
   edge stops (a monolith that no longer owns a group answers its API 421, reads included).
5. **the end of the freeze**.

Backward (N = current - 1) runs the same way, with the data moved back instead of
synced: what the group's owner wrote in phase N travels back to the previous owner
(`snappy_migration.reverse.move_back`) and is verified before the flip. Forward, the
group's state beside its rows (revoked tokens, the log-in throttle, upload keys) is
handed over to the service in the freeze (`hand_over_state`). There is no parity probe
backward: the previous owner refuses the moved group's API (421) until the flip.

A step that fails after the freeze began undoes what was done (ownership, edge phase)
and ends the freeze: the stack is left in the phase it was in. The command prints a
timeline, with the freeze's duration, and exits 0 on success, 1 when it undid a failed
cutover, 2 when it refused.

Between phases 3 and 4 no route group moves (they route alike, and every table has the
same writer): `--to 4` syncs the change log to empty, verifies, records phase 4 and moves
the edge, and the process running the stack (`snappy up`) stops the monolith's process;
`--to 3` moves the edge back, waits for that process to start the monolith again, verifies
and records phase 3. Nothing is frozen either way. A stack started at phase 4 runs no
monolith and leaves phase 4 by a restart (`snappy up --stack strangler --phase 3`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg

from snappy_devstack.errors import one_line
from snappy_devstack.local_stack import LocalStack, running_local_stack
from snappy_devstack.phase import EdgeState, read_edge_state
from snappy_devstack.stack import default_state_dir
from snappy_edge.control import EdgeControl, read_control, write_control
from snappy_edge.normalization import IdNumbering, normalize_body, normalize_page
from snappy_edge.routing import PHASES
from snappy_migration.backfill import backfill
from snappy_migration.errors import MigrationError, NotReady
from snappy_migration.objects import named_object_keys, object_info
from snappy_migration.phases import verify_at_phase
from snappy_migration.reverse import copy_objects_back, hand_over_state, move_back
from snappy_migration.stores import Stores, open_stores
from snappy_migration.sync import measure_lag, require_backfilled, sync
from snappy_migration.verify import ObjectInventory, VerifyReport, check_objects, inventory_objects_of
from snappy_monolith.ownership import read_ownership_phase, set_ownership_phase
from snappy_topology import PartName, RouteGroupName

__all__ = [
    "CUTOVER",
    "CutoverResult",
    "Refused",
    "Timeline",
    "Undone",
    "add_cutover_parser",
    "cutover",
    "differences_not_in_the_change_log",
    "moving_group",
    "run_cutover",
]

CUTOVER = "cutover"
_EXIT_UNDONE = 1
_EXIT_REFUSED = 2
# Phase 4 stops the monolith's process, phase 3 starts it again: the stack does both.
_MONOLITH_WAIT_SECONDS = 90.0
_DEFAULT_MAX_LAG = 10_000
_HTTP_TIMEOUT_SECONDS = 5.0
_WAIT_SECONDS = 10.0
_WAIT_INTERVAL_SECONDS = 0.02
_PROBED_USERS = 5
# The data that moves with each route group: the tables' group in snappy_migration.
_DATA_OF_GROUP: Mapping[RouteGroupName, str] = {
    RouteGroupName.USERS: "users",
    RouteGroupName.PHOTOS: "photos",
}


class Refused(Exception):
    """A precondition failed: nothing changed (exit status 2)."""


class Undone(Exception):
    """A step after the freeze failed: what was done is undone (exit status 1)."""


def add_cutover_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `cutover --to N` to the `snappy` command's subcommands."""
    cutover = commands.add_parser(
        CUTOVER,
        help="move the running strangler stack one phase forward or back, with a write freeze",
        description=(
            "Move the stack of `snappy up --stack strangler` to the next or the previous phase: check the"
            " preconditions, freeze the moving route group's writes, sync (or move back) and verify its"
            " data, flip the ownership and the edge, and end the freeze. Prints a timeline."
        ),
    )
    cutover.add_argument(
        "--to", type=int, required=True, choices=sorted(PHASES), metavar="N", help="the phase to move to"
    )
    cutover.add_argument(
        "--max-lag",
        type=int,
        default=_DEFAULT_MAX_LAG,
        metavar="ENTRIES",
        help=f"the most change-log entries left once synced, before freezing (default {_DEFAULT_MAX_LAG:,})",
    )
    cutover.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the state folder of `snappy up` (default: .snappy in the repository root)",
    )


def run_cutover(arguments: argparse.Namespace) -> int:
    """Run `snappy cutover --to N`; the exit status."""
    state_dir: Path = (arguments.state_dir or default_state_dir(Path.cwd())).absolute()
    timeline = Timeline()
    try:
        stack = _strangler_stack(state_dir)
        result = cutover(
            stack, arguments.to, max_lag=arguments.max_lag, timeline=timeline, report_dir=state_dir
        )
    except Refused as error:
        print(f"snappy cutover: refused: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return _EXIT_REFUSED
    except Undone as error:
        print(f"snappy cutover: undone, the stack stays in its phase: {error}", file=sys.stderr, flush=True)
        return _EXIT_UNDONE
    _say(result.summary())
    return 0


@dataclass
class Timeline:
    """Each step of a cutover, timed from its start, printed as it happens."""

    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)
    echo: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    def record(self, what: str) -> float:
        """Note `what` now; the seconds since the start."""
        elapsed = time.monotonic() - self.started
        self.events.append((elapsed, what))
        self.echo(f"  {elapsed:7.3f} s  {what}")
        return elapsed


@dataclass(frozen=True)
class CutoverResult:
    """What a cutover did and how long its freeze lasted."""

    from_phase: int
    to_phase: int
    # None between phases 3 and 4: no route group moves, the monolith's process retires or returns.
    group: RouteGroupName | None
    freeze_seconds: float
    changes_synced: int
    moved_back: Mapping[str, int]
    report: VerifyReport | None

    def summary(self) -> str:
        """One line for people."""
        if self.group is None:
            retired = self.to_phase > self.from_phase
            return (
                f"phase {self.from_phase} -> {self.to_phase}: no route group moved; the monolith's process"
                f" {'retired' if retired else 'started again'}; writes frozen for 0.000 s;"
                f" {self.changes_synced:,} changes synced; verify"
                f" {'passed' if self.report is not None and self.report.ok else 'FAILED'}"
            )
        data = (
            f"{self.changes_synced:,} changes synced"
            if self.to_phase > self.from_phase
            else "moved back: "
            + (", ".join(f"{key} {value:,}" for key, value in self.moved_back.items()) or "nothing")
        )
        verdict = (
            "no data moves with it"
            if self.report is None
            else f"verify {'passed' if self.report.ok else 'FAILED'}"
        )
        return (
            f"phase {self.from_phase} -> {self.to_phase}: {self.group} moved; writes frozen for"
            f" {self.freeze_seconds:.3f} s; {data}; {verdict}"
        )


def cutover(
    stack: LocalStack, to_phase: int, *, max_lag: int, timeline: Timeline, report_dir: Path
) -> CutoverResult:
    """Move `stack` to `to_phase` (one phase away); Refused or Undone as the module says."""
    edge = _Edge(
        _required(stack.strangler_url, "its edge's URL"),
        Path(_required(stack.edge_control_file, "its edge's control file")),
        stack.monolith_database_url,
    )
    state = edge.state()
    recorded = read_ownership_phase(stack.monolith_database_url)
    from_phase = edge.phase_before = state.phase
    if recorded != from_phase:
        raise Refused(
            f"the edge routes by phase {from_phase} but the monolith's database records ownership phase"
            f" {recorded}: bring them together first (`snappy phase set {recorded}`)"
        )
    if abs(to_phase - from_phase) != 1:
        raise Refused(
            f"one phase at a time: from phase {from_phase}, go to {from_phase - 1} or {from_phase + 1}"
        )
    group = moving_group(from_phase, to_phase)
    if group is None:
        return _retire_or_restore(stack, edge, from_phase, to_phase, timeline=timeline, report_dir=report_dir)
    forward = to_phase > from_phase
    data = _DATA_OF_GROUP.get(group)
    move = _Move(group, data, from_phase, to_phase)
    timeline.record(
        f"phase {from_phase} -> {to_phase}: {group} moves from {move.owner_before} to {move.owner_after}"
    )
    with open_stores(stack.endpoints()) as stores:
        _check_parts(stack, state, to_phase)
        timeline.record(f"the parts of phase {to_phase} answer")
        if forward:
            _backfill_when_needed(stores, timeline)
        # Both ways: the tables the monolith still owns are copied on, so the verify below
        # holds the copies to what they must equal.
        presync = sync(stores).entries
        lag = measure_lag(stores.source).entries
        if lag > max_lag:
            raise Refused(f"the change log still holds {lag:,} entries after a sync (at most {max_lag:,})")
        timeline.record(f"synced {presync:,} changes outside the freeze; lag {lag:,}")
        if data is not None:
            # Objects are compared in the freeze: here uploads still come and go.
            report = verify_at_phase(
                stores, from_phase, with_objects=False, only_tables=_TABLES_OF_DATA[data]
            )
            report.write(report_dir / f"cutover-{from_phase}-{to_phase}-before.json")
            unexplained = differences_not_in_the_change_log(stores, report)
            if unexplained:
                raise Refused(
                    f"the {data} data differs at phase {from_phase}: {unexplained} (see {report_dir})"
                )
            timeline.record(f"{data}: verified at phase {from_phase}, but for writes still to sync")
        objects_settled = _objects_before_the_freeze(stores, data, forward, timeline)
        if forward:
            _probe_parity(stack, group, PHASES[from_phase][group], PHASES[to_phase][group])
            timeline.record(f"{group}: {PHASES[to_phase][group]} answers as {PHASES[from_phase][group]} does")
        return _frozen_move(
            stack,
            stores,
            edge=edge,
            move=replace(move, objects_settled=objects_settled),
            timeline=timeline,
            report_dir=report_dir,
        )


def _objects_before_the_freeze(
    stores: Stores, data: str | None, forward: bool, timeline: Timeline
) -> frozenset[str] | None:
    """The objects' work done while writes still flow; the keys it settled, for the freeze to skip.

    Listing both buckets takes time in proportion to every object (about 30 s at 100,000
    photos): done in the freeze, it made the freeze grow with the bucket. Keys are never
    reused and objects never rewritten, so an object found (or copied) equal here stays
    equal, and the freeze looks only at the keys named since. None when no photo moves.
    """
    if data != "photos":
        return None
    if not forward:
        copied = copy_objects_back(stores)
        timeline.record(f"objects: {len(copied):,} in the monolith's bucket before the freeze")
        return copied
    checked = check_objects(stores)
    if not checked.inventory.ok:
        # Photos deleted while the buckets were listed leave transient differences; only
        # those that outlast a sync are real.
        sync(stores)
        lasting = _lasting_object_differences(stores, checked.inventory)
        if lasting:
            raise Refused(f"the photos' objects differ at phase 1: {lasting}")
    timeline.record(
        f"objects: {len(checked.equal_keys):,} found equal before the freeze; the freeze checks the rest"
    )
    return checked.equal_keys


def _lasting_object_differences(stores: Stores, found: ObjectInventory) -> str:
    """The differences `found` named that a fresh look still finds, as one line; "" for none."""
    named_differences = len(found.missing) + len(found.different) + len(found.missing_in_source)
    counted = found.missing_count + found.different_count + found.missing_in_source_count
    if named_differences < counted or len(found.extra) < found.extra_count:
        return f"more differences than the check names ({counted:,} keys, {found.extra_count:,} extra)"
    named_now = set(named_object_keys(stores.targets[PartName.PHOTO_SERVICE]))
    # A key no photo names any more is a photo deleted since: nothing to compare.
    again = inventory_objects_of(
        stores,
        sorted(
            key for key in (*found.missing, *found.different, *found.missing_in_source) if key in named_now
        ),
    )
    lasting = [*again.missing, *again.different, *again.missing_in_source]
    lasting += [
        key
        for key in found.extra
        if key not in named_now
        and object_info(stores.target, stores.endpoints.target_bucket, key) is not None
    ]
    return f"keys {lasting}" if lasting else ""


def moving_group(from_phase: int, to_phase: int) -> RouteGroupName | None:
    """The route group a step between neighbouring phases moves; None between 3 and 4 (they route alike)."""
    moving = [group for group in PHASES[from_phase] if PHASES[from_phase][group] != PHASES[to_phase][group]]
    return moving[0] if moving else None


def _retire_or_restore(
    stack: LocalStack, edge: _Edge, from_phase: int, to_phase: int, *, timeline: Timeline, report_dir: Path
) -> CutoverResult:
    """Phase 3 <-> 4: no route group moves; the monolith's process is retired, or started again.

    Phases 3 and 4 route alike and give every table the same writer (`same_writers`), so no
    write is frozen and no data moves. Forward: the change log synced to empty (the monolith
    writes nothing any more), the data verified at phase 3, phase 4 recorded, the edge at 4,
    and the monolith's process stopped by the process running the stack
    (`stack.MonolithRetirement`). Back: the edge at 3 (which routes nothing to the monolith),
    the monolith started again by the stack and answering, the data verified, phase 3
    recorded. Either way a failure puts the phase back.
    """
    monolith_url = (stack.part_urls or {}).get(str(PartName.MONOLITH))
    if monolith_url is None:
        raise Refused(
            f"this stack was started at phase {from_phase} and has no monolith to start again: go back to"
            f" phase {to_phase} by a restart (`snappy up --stack strangler --phase {to_phase}`)"
        )
    retiring = to_phase > from_phase
    change = "retires" if retiring else "comes back"
    timeline.record(
        f"phase {from_phase} -> {to_phase}: no route group moves; the monolith's process {change}"
    )
    with open_stores(stack.endpoints()) as stores:
        _check_parts(stack, edge.state(), to_phase)
        synced = sync(stores).entries
        if retiring:
            lag = measure_lag(stores.source).entries
            if lag:
                raise Refused(f"the change log holds {lag:,} entries after a sync: the monolith still writes")
            report = _verified(stores, from_phase, report_dir / f"cutover-{from_phase}-{to_phase}.json")
            timeline.record(
                f"synced {synced:,} changes; the change log is empty; verified at phase {from_phase}"
            )
        try:
            if retiring:
                set_ownership_phase(stack.monolith_database_url, to_phase)
                timeline.record(f"the monolith's database records ownership phase {to_phase}")
            edge.set_phase(to_phase)
            edge.wait_until(lambda state: state.has_taken(to_phase), f"the edge at phase {to_phase}")
            timeline.record(f"the edge routes by phase {to_phase}")
            _wait_for_monolith(monolith_url, answering=not retiring)
            if retiring:
                timeline.record(
                    "the monolith's process stopped; kept for a way back: its database (its change log and"
                    " triggers log nothing, every table having moved) and its bucket"
                )
            else:
                timeline.record(f"the monolith answers again at {monolith_url}")
                report = _verified(stores, to_phase, report_dir / f"cutover-{from_phase}-{to_phase}.json")
                set_ownership_phase(stack.monolith_database_url, to_phase)
                timeline.record(f"verified; the monolith's database records ownership phase {to_phase}")
        except BaseException as error:
            set_ownership_phase(stack.monolith_database_url, from_phase)
            edge.set_phase(from_phase)
            timeline.record(f"undone: back to phase {from_phase}")
            if isinstance(error, Exception):
                raise Undone(one_line(error)) from error
            raise
    return CutoverResult(from_phase, to_phase, None, 0.0, synced, {}, report)


def _verified(stores: Stores, phase: int, report_path: Path) -> VerifyReport:
    """The data verified at `phase`, its report written; Refused when it does not verify."""
    report = verify_at_phase(stores, phase)
    report.write(report_path)
    if not report.ok:
        raise Refused(f"the data does not verify at phase {phase} (report: {report_path})")
    return report


def _wait_for_monolith(url: str, *, answering: bool) -> None:
    """Wait until the monolith answers `/readyz` (or, `answering` false, until nothing answers at `url`)."""
    deadline = time.monotonic() + _MONOLITH_WAIT_SECONDS
    while True:
        try:
            up = httpx.get(f"{url}/readyz", timeout=_HTTP_TIMEOUT_SECONDS).status_code == 200
        except httpx.HTTPError:
            up = False
        if up is answering:
            return
        if time.monotonic() > deadline:
            state = "answer" if answering else "stop"
            raise TimeoutError(
                f"the monolith did not {state} at {url} within {_MONOLITH_WAIT_SECONDS:.0f} s: is the stack's"
                " `snappy up` (which starts and stops it) still running?"
            )
        time.sleep(0.25)


@dataclass(frozen=True)
class _Move:
    """One phase forward or back: the route group that moves, and the data that moves with it."""

    group: RouteGroupName
    data: str | None  # "users", "photos", or None (pages carry no data of their own)
    from_phase: int
    to_phase: int
    # The object keys found or copied equal before the freeze (`_objects_before_the_freeze`).
    objects_settled: frozenset[str] | None = None

    @property
    def owner_before(self) -> PartName:
        return PHASES[self.from_phase][self.group]

    @property
    def owner_after(self) -> PartName:
        return PHASES[self.to_phase][self.group]


def _frozen_move(
    stack: LocalStack, stores: Stores, *, edge: _Edge, move: _Move, timeline: Timeline, report_dir: Path
) -> CutoverResult:
    group, data, from_phase, to_phase = move.group, move.data, move.from_phase, move.to_phase
    forward = to_phase > from_phase
    changes = 0
    moved_back: dict[str, int] = {}
    report: VerifyReport | None = None
    with _freeze(edge, group, timeline) as freeze:
        edge.wait_until(
            lambda state: state.writes_in_flight.get(group, 0) == 0, f"{group}'s writes in flight"
        )
        timeline.record(f"{group}: no write in flight")
        if data is not None:
            if forward:
                changes = sync(stores).entries
                # The group's state (revoked tokens, the log-in throttle, upload keys) goes with it.
                hand_over_state(stores, data)
            else:
                moved_back = _move_back(stores, data, move.objects_settled)
            # Verified where the monolith still owns the group: before it moves forward, after it
            # moved back.
            report = verify_at_phase(
                stores,
                from_phase if forward else to_phase,
                with_objects=data == "photos",
                objects_settled=move.objects_settled,
                only_tables=_TABLES_OF_DATA[data],
            )
            report.write(report_dir / f"cutover-{from_phase}-{to_phase}-frozen.json")
            if not report.ok:
                raise Undone(f"the {data} data does not verify in the freeze (report: {report_dir})")
            moved = ", ".join(f"{what} {count:,}" for what, count in moved_back.items()) or "nothing"
            timeline.record(
                f"final sync: {changes:,} changes, state handed over; verified"
                if forward
                else f"moved back: {moved}; verified at phase {to_phase}"
            )
        # The group's next owner must own it before the edge sends it there, and the previous
        # owner must keep serving its reads until the edge stops: a monolith that owns a group
        # no more answers its API, reads included, 421. Forward the next owner is a service,
        # which serves the group whatever the monolith records: the edge moves first. Back it
        # is the monolith: the ownership moves first. Writes are frozen either way.
        flips = (_move_the_edge, _record_ownership) if forward else (_record_ownership, _move_the_edge)
        for flip in flips:
            flip(stack, edge, freeze, to_phase, timeline)
    return CutoverResult(from_phase, to_phase, group, freeze.seconds, changes, moved_back, report)


# The tables of the data that moves with each group (snappy_migration.mapping's source tables).
_TABLES_OF_DATA: Mapping[str, tuple[str, ...]] = {"users": ("users",), "photos": ("photos", "shares")}


def differences_not_in_the_change_log(stores: Stores, report: VerifyReport) -> str:
    """The differences no change-log entry explains (writes since the sync are), as one line; "" for none."""
    unexplained: list[str] = []
    for table in report.tables:
        if table.ok:
            continue
        ids = [*table.changed, *table.missing, *table.extra]
        if len(ids) < table.changed_count + table.missing_count + table.extra_count:
            unexplained.append(f"{table.table}: more differences than the report names")
            continue
        with stores.source.transaction():
            logged = {
                row[0]
                for row in stores.source.execute(
                    "SELECT DISTINCT row_id FROM change_log WHERE table_name = %s AND row_id = ANY(%s)",
                    (table.table, ids),
                ).fetchall()
            }
        if set(ids) - logged:
            unexplained.append(f"{table.table} ids {sorted(set(ids) - logged)}")
    unexplained += [
        f"{orphans.check}: {orphans.orphan_count}" for orphans in report.orphans if not orphans.ok
    ]
    return "; ".join(unexplained)


def _backfill_when_needed(stores: Stores, timeline: Timeline) -> None:
    """Fill the services' stores from the monolith's if that never finished (a stack started at phase 0)."""
    try:
        require_backfilled(stores)
    except NotReady:
        moved = backfill(stores)
        rows = ", ".join(f"{table} {count:,}" for table, count in moved.rows.items())
        timeline.record(f"backfilled the services' stores: rows {rows}; objects {moved.objects:,}")


def _move_back(stores: Stores, data: str, objects_copied_before: frozenset[str] | None) -> dict[str, int]:
    """The group's data back into the monolith; what moved, per table and for the objects."""
    moved = move_back(stores, data, objects_copied_before=objects_copied_before)
    counts = {f"{table} rows": count for table, count in moved.rows_upserted.items() if count}
    counts.update({f"{table} rows deleted": count for table, count in moved.rows_deleted.items() if count})
    if moved.objects_copied:
        counts["objects"] = moved.objects_copied
    if moved.objects_deleted:
        counts["objects deleted"] = moved.objects_deleted
    return counts


def _record_ownership(
    stack: LocalStack, edge: _Edge, freeze: _Freeze, to_phase: int, timeline: Timeline
) -> None:
    set_ownership_phase(stack.monolith_database_url, to_phase)
    freeze.ownership_changed = True
    timeline.record(f"the monolith's database records ownership phase {to_phase}")


def _move_the_edge(
    stack: LocalStack, edge: _Edge, freeze: _Freeze, to_phase: int, timeline: Timeline
) -> None:
    edge.set_phase(to_phase)
    edge.wait_until(lambda state: state.has_taken(to_phase), f"the edge at phase {to_phase}")
    freeze.edge_changed = True
    timeline.record(f"the edge routes by phase {to_phase}")


@dataclass
class _Freeze:
    ownership_changed: bool = False
    edge_changed: bool = False
    seconds: float = 0.0


@contextmanager
def _freeze(edge: _Edge, group: RouteGroupName, timeline: Timeline) -> Iterator[_Freeze]:
    """Freeze `group`'s writes for the block; on a failure, undo the flip's steps, then thaw."""
    freeze = _Freeze()
    before = edge.control()
    edge.write(replace(before, freeze=before.freeze | {group}))
    # Whatever happens from here (Ctrl-C included), the stack is left in its phase, thawed.
    try:
        edge.wait_until(lambda state: group in state.frozen, f"the freeze of {group}")
        frozen_at = timeline.record(f"{group}: writes frozen")
        yield freeze
    except BaseException as error:
        if freeze.ownership_changed:
            set_ownership_phase(edge.stack_database_url, edge.phase_before)
        edge.write(replace(edge.control(), phase=before.phase, freeze=before.freeze))
        timeline.record(f"undone: back to phase {edge.phase_before}, writes thawed")
        if isinstance(error, Exception):
            raise Undone(one_line(error)) from error
        raise
    edge.write(replace(edge.control(), freeze=before.freeze))
    freeze.seconds = timeline.record(f"{group}: writes thawed") - frozen_at
    timeline.record(f"writes of {group} were frozen for {freeze.seconds:.3f} s")


@dataclass
class _Edge:
    """The running edge: its /metrics to read, its control file to write."""

    url: str
    control_file: Path
    stack_database_url: str = ""
    phase_before: int = 0

    def state(self) -> EdgeState:
        try:
            return read_edge_state(self.url)
        except ValueError as error:
            raise Refused(one_line(error)) from None

    def control(self) -> EdgeControl:
        return read_control(self.control_file)

    def write(self, control: EdgeControl) -> None:
        write_control(self.control_file, control)

    def set_phase(self, phase: int) -> None:
        self.write(replace(self.control(), phase=phase))

    def wait_until(self, condition: Callable[[EdgeState], bool], what: str) -> None:
        deadline = time.monotonic() + _WAIT_SECONDS
        while not condition(self.state()):
            if time.monotonic() > deadline:
                raise Undone(f"{what}: not reported by the edge within {_WAIT_SECONDS:.0f} s")
            time.sleep(_WAIT_INTERVAL_SECONDS)


def _strangler_stack(state_dir: Path) -> LocalStack:
    try:
        stack = running_local_stack(state_dir, how_to_start="start `./snappy up --stack strangler`")
    except MigrationError as error:
        raise Refused(str(error)) from None
    if stack.strangler_url is None:
        raise Refused("the running stack is not a strangler stack: start `./snappy up --stack strangler`")
    return stack


def _required(value: str | None, what: str) -> str:
    if not value:
        raise Refused(
            f"the local stack's description names no {what}: restart `./snappy up --stack strangler`"
        )
    return value


def _check_parts(stack: LocalStack, state: EdgeState, phase: int) -> None:
    needed = set(PHASES[phase].values())
    missing = sorted(map(str, needed - state.configured_parts))
    if missing:
        raise Refused(f"phase {phase} routes to {', '.join(missing)}, which the edge has no address for")
    urls = stack.part_urls or {}
    for part in sorted(needed):
        url = urls.get(str(part))
        if url is None:
            raise Refused(f"the local stack's description has no address for {part}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=_HTTP_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            raise Refused(f"{part} does not answer at {url}: {one_line(error)}") from None
        if ready.status_code != 200:
            raise Refused(f"{part} is not ready ({ready.status_code} from {url}/readyz)")


def _probe_parity(stack: LocalStack, group: RouteGroupName, current: PartName, following: PartName) -> None:
    """The group's anonymous reads answer the same from both owners, after the parity normalization."""
    urls = stack.part_urls or {}
    usernames = _some_usernames(stack.monolith_database_url)
    paths = _probe_paths(group, usernames)
    with httpx.Client(timeout=_HTTP_TIMEOUT_SECONDS) as client:
        for path in paths:
            answers = [client.get(urls[str(part)] + path) for part in (current, following)]
            seen = [_comparable(answer) for answer in answers]
            if seen[0] != seen[1]:
                raise Refused(
                    f"GET {path} answers differently: {current} {answers[0].status_code},"
                    f" {following} {answers[1].status_code} (compare them with `snappy shadow`)"
                )


def _probe_paths(group: RouteGroupName, usernames: list[str]) -> list[str]:
    if group == RouteGroupName.USERS:
        return [
            "/.well-known/jwks.json",
            "/api/v1/users/me",
            *[f"/api/v1/users/{name}" for name in usernames],
        ]
    if group == RouteGroupName.PHOTOS:
        return ["/api/v1/feed", "/api/v1/photos", *[f"/api/v1/users/{name}/photos" for name in usernames]]
    return ["/", "/login", "/signup", "/not-a-page", *[f"/users/{name}" for name in usernames]]


def _comparable(answer: httpx.Response) -> tuple[int, str, Any]:
    content_type = answer.headers.get("content-type", "")
    if "json" in content_type:
        return answer.status_code, content_type, normalize_body(answer.json(), IdNumbering())
    if "html" in content_type:
        return answer.status_code, content_type, normalize_page(answer.text)
    return answer.status_code, content_type, answer.content


def _some_usernames(database_url: str) -> list[str]:
    try:
        with psycopg.connect(database_url, connect_timeout=5) as connection:
            rows = connection.execute(
                "SELECT username FROM users ORDER BY id LIMIT %s", (_PROBED_USERS,)
            ).fetchall()
    except psycopg.Error as error:
        raise Refused(f"cannot read the monolith's users: {one_line(error)}") from None
    return [str(row[0]) for row in rows]


def _say(line: str) -> None:
    print(line, flush=True)
