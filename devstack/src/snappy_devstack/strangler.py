"""The strangler stack's data: brought to a consistent state for the phase it starts in.

`snappy up --stack strangler --phase N` runs the parts phase N needs. From phase 1 on the
services own part of the data (snappy_monolith.ownership), so their stores must hold the
monolith's data before they serve it. The rule at start, by the phase the monolith's
database records (`ownership_phase`, 0 for a database that has none yet):

- recorded 0, started at 0: the monolith owns everything; nothing moves. The services that
  stand by for the cutover to phase 1 start with their stores emptied: `snappy cutover`
  fills them (backfill, sync) before it moves anything.
- recorded 0, started at N >= 1: the services' stores are emptied (before they start),
  then the data migration moves the monolith's data into them (backfill, sync, verify),
  and only a verification that passes records phase N. What the services held before was
  not theirs: at phase 0 the monolith's data is the only truth.
- recorded N, started at N: the stack resumes. The change log holds only writes of tables
  the monolith still owns; they are synced, and verify checks what phase N says must agree.
- recorded M, started at N != M (M >= 1), where M and N give every table the same writer
  (`same_writers`: phases 2, 3 and 4, which differ only in who renders the pages): the
  stack restarts at N, verifies at M, and records N. This is how phase 4 (no monolith
  process) is reached, and left again for phase 3: a restart, no data moving.
- recorded M, started at N != M otherwise: refused. The services hold writes the monolith
  lacks, and only a cutover (`snappy cutover`) moves them and the ownership together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import psycopg

from snappy_devstack.backing import BackingServices, create_database
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.local_stack import LocalStack
from snappy_devstack.rehearsal import reset_microservices_side
from snappy_edge.control import read_control, write_control
from snappy_edge.routing import PHASES
from snappy_migration.backfill import backfill
from snappy_migration.phases import SERVICE_OWNS_FROM, same_writers, scope_lines, verify_at_phase
from snappy_migration.phases import read_ownership_phase as recorded_in_stores
from snappy_migration.reverse import hand_over_state
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync
from snappy_migration.verify import VerifyReport, render, verify
from snappy_monolith.ownership import set_ownership_phase
from snappy_topology import PartName, part

__all__ = ["StranglerData", "bring_data_to_phase", "recorded_phase", "refuse_or_reset", "route_by_the_start"]

_CONNECT_TIMEOUT_SECONDS = 5


@dataclass
class StranglerData:
    """What the start did to the data, and the verification at the phase it started in."""

    phase: int
    recorded: int
    rows: Mapping[str, int] = field(default_factory=dict)
    changes_synced: int = 0
    objects: int = 0
    report: VerifyReport | None = None
    report_path: Path | None = None

    @property
    def moved(self) -> bool:
        """True when the start moved the monolith's data into emptied service stores."""
        return self.recorded == 0 and self.phase > 0

    def lines(self) -> list[str]:
        """One line (two with a report) for the start's announcement."""
        if self.phase == 0:
            return ["data:    the monolith owns all of it (phase 0); nothing moved"]
        rows = ", ".join(f"{table} {count:,}" for table, count in self.rows.items()) or "none"
        what = (
            f"the monolith's data moved to the emptied service stores: rows {rows}; objects {self.objects:,};"
            if self.moved
            else f"resumed at phase {self.phase}:"
            if self.recorded == self.phase
            else f"restarted at phase {self.phase} from phase {self.recorded} (the same writers):"
        )
        verdict = "passed" if self.report is not None and self.report.ok else "FAILED"
        lines = [
            f"data:    {what} {self.changes_synced:,} changes synced",
            f"verify:  {verdict} at phase {self.phase} (report: {self.report_path})",
        ]
        if self.phase == max(PHASES):
            lines.append(RETIRED)
        return lines


# What phase 4 drops, and what it keeps for the way back (a restart at phase 3).
RETIRED: Final = (
    "retired: the monolith's process (not started); kept for a way back: its database, whose"
    " change log and triggers log nothing since every table moved (phase 2), and its bucket"
)


def recorded_phase(services: BackingServices) -> int:
    """The ownership phase the monolith's database records; 0 for a new or not yet migrated one."""
    monolith_database = part(PartName.MONOLITH).database
    if monolith_database is None:
        raise DevstackError("the topology names no database for the monolith")
    # Created here if missing (the stack would create it next): an empty database records 0.
    url = create_database(services.postgres_url, monolith_database)
    try:
        with psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_SECONDS, autocommit=True) as connection:
            present = connection.execute("SELECT to_regclass('ownership_phase') IS NOT NULL").fetchone()
            if not present or not present[0]:
                return 0
            row = connection.execute("SELECT phase FROM ownership_phase WHERE id = 1").fetchone()
    except psycopg.Error as error:
        raise DevstackError(f"cannot read the monolith's ownership phase: {one_line(error)}") from error
    return int(row[0]) if row else 0


def refuse_or_reset(services: BackingServices, phase: int) -> int:
    """Before any part starts: refuse a phase the data is not in, or empty the services' stores.

    Returns the phase the monolith's database records (see the module's docstring).
    """
    recorded = recorded_phase(services)
    if recorded not in (0, phase) and not same_writers(recorded, phase):
        raise DevstackError(
            f"the data is owned as of phase {recorded} (the services hold writes the monolith lacks):"
            f" start with --phase {recorded}, then move with `snappy cutover --to {phase}`"
        )
    if recorded == 0:
        reset_microservices_side(services)
    return recorded


def route_by_the_start(control_file: Path) -> None:
    """Before the edge starts: its routing is the phase it is started in, with no write frozen.

    The control file outlives the stack (in the state folder) so that a shadow survives a
    restart; a phase that `snappy cutover` or `snappy phase set` left in it must not, or an
    edge started with `--phase 4` would keep routing by the phase before. A freeze left by a
    cutover that was killed before it could undo goes too: the start verifies the data itself.
    """
    current = read_control(control_file)
    if current.phase is not None or current.freeze:
        write_control(control_file, replace(current, phase=None, freeze=frozenset()))


def bring_data_to_phase(
    stack: LocalStack,
    phase: int,
    recorded: int,
    report_path: Path,
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> StranglerData:
    """Once every part has started (its schema migrated): move or sync the data, verify, record `phase`.

    Raises DevstackError when the verification finds differences: the phase is not recorded,
    so the monolith keeps owning the data it owned.
    """
    outcome = StranglerData(phase=phase, recorded=recorded, report_path=report_path)
    if phase == 0:
        return outcome
    with open_stores(stack.endpoints()) as stores:
        if recorded == 0:
            progress("Moving the monolith's data into the services' stores: backfill, sync, verify...")
            moved = backfill(stores)
            outcome.rows, outcome.objects = dict(moved.rows), moved.objects
            outcome.changes_synced = sync(stores).entries
            outcome.report = verify(stores)
            if outcome.report.ok:
                # What the groups the services own from `phase` keep beside their rows (revoked
                # tokens, the log-in throttle, upload keys) goes with them, before the record.
                for group in ("users", "photos"):
                    if phase >= SERVICE_OWNS_FROM[group]:
                        hand_over_state(stores, group)
        else:
            progress(f"Resuming at phase {phase}: syncing what the monolith still owns, verifying...")
            # At a restart into another phase of the same writers (`same_writers`) the data is
            # checked as it is owned now, at `recorded`; `phase` is recorded once it passes.
            outcome.changes_synced = sync(stores).entries
            outcome.report = verify_at_phase(stores, recorded_in_stores(stores.source))
    outcome.report.write(report_path)
    if not outcome.report.ok:
        details = "\n".join([*scope_lines(phase), render(outcome.report)])
        raise DevstackError(f"the data does not verify at phase {phase} (report: {report_path}):\n{details}")
    if recorded != phase:
        set_ownership_phase(stack.monolith_database_url, phase)
    return outcome
