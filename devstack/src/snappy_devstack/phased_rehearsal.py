"""`snappy rehearse --phased`: the strangler's phase walk, rehearsed on the sample data, step by step.

The command (in `cli`) starts the strangler stack at phase 0 with the sample data, as
`snappy up --stack strangler --phase 0 --seed` does, and walks it 0 -> 1 -> 2 -> 3 -> 4 and
back to 0 with `snappy cutover`'s function (phase 4 retiring the monolith's process, phase 3
starting it again) while a client keeps signing up, logging in, uploading,
sharing and reading through the edge (`snappy_devstack.edge_workload`). This module holds
one step and what it found, the checks after it, the table they make and the JSON figures.

After each step, on the stack as it then stands:

- the data verification at the phase it is in (`verify_at_phase`, rows and references, not
  the objects, after a sync): a difference the migration's change log explains is a write
  the client made since the sync, not a difference;
- `snappy browse`'s reads of the sample users: every read must be answered 2xx.

A step passed when its cutover moved the stack (not refused, not undone), its own verify in
the freeze passed (a route group with no data of its own has none), both checks passed, and
the client got no answer other than 2xx and the freeze's declared 503s.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from snappy_devstack.browse import Browsing, browse
from snappy_devstack.cutover import (
    Refused,
    Timeline,
    Undone,
    cutover,
    differences_not_in_the_change_log,
    moving_group,
)
from snappy_devstack.edge_workload import EdgeWorkload, WorkloadTally
from snappy_devstack.errors import one_line
from snappy_devstack.local_stack import LocalStack
from snappy_devstack.user_views import UserViewsError
from snappy_edge.routing import PHASES
from snappy_migration.errors import MigrationError
from snappy_migration.phases import verify_at_phase
from snappy_migration.progress import Progress
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync

__all__ = [
    "FIGURES_FILE",
    "LAST_LIVE_PHASE",
    "WALK",
    "PhasedRehearsal",
    "StepChecks",
    "StepOutcome",
    "check_the_stack",
    "cutover_step",
    "render_table",
    "walk_the_phases",
]

# Where the figures go, in the state folder.
FIGURES_FILE: Final = "rehearsal-phased.json"
# The last phase the walk goes to: phase 4, where the monolith's process retires.
LAST_LIVE_PHASE: Final = max(PHASES)
# The change-log entries a cutover may leave after its sync before freezing: `snappy cutover`'s default.
_MAX_LAG = 10_000
# The unexpected answers of a step listed under the table; the count is always complete.
_UNEXPECTED_SHOWN = 5
_COLUMNS: Final = (
    "step",
    "route group moved",
    "freeze (s)",
    "synced / moved back",
    "verify",
    "data after",
    "requests",
    "freeze 503s",
    "errors",
    "browse",
    "step (s)",
)
# Columns of figures, aligned to the right.
_NUMERIC_COLUMNS: Final = frozenset({"freeze (s)", "requests", "freeze 503s", "errors", "step (s)"})


# The walk when every step moves the stack: each phase up to the last live one, then back to 0.
WALK: Final = tuple((phase, phase + 1) for phase in range(LAST_LIVE_PHASE)) + tuple(
    (phase, phase - 1) for phase in range(LAST_LIVE_PHASE, 0, -1)
)


def walk_the_phases(take_step: Callable[[int, int], StepOutcome]) -> list[StepOutcome]:
    """Take the steps of WALK with `take_step(from, to)`; a step that does not move the stack turns it back.

    Forward until the last live phase or the first step that leaves the stack where it was,
    then back to phase 0 from wherever it is, stopping at a step that cannot move it: the
    stack ends at phase 0 unless a step back failed.
    """
    steps: list[StepOutcome] = []
    phase = 0
    while phase < LAST_LIVE_PHASE:
        steps.append(take_step(phase, phase + 1))
        if not steps[-1].moved:
            break
        phase += 1
    while phase > 0:
        steps.append(take_step(phase, phase - 1))
        if not steps[-1].moved:
            break
        phase -= 1
    return steps


@dataclass
class StepChecks:
    """The checks on the running stack after a step: its data at the phase it is in, and browse."""

    phase: int
    # None when it could not run; `verify_problem` says why, or what differed.
    verified: bool | None = None
    verify_problem: str = ""
    browse_ok: bool | None = None
    browse_reads: int = 0
    browse_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The data verified and every sample user's read was answered."""
        return bool(self.verified) and bool(self.browse_ok)


@dataclass
class StepOutcome:
    """One step of the walk: what moved, its freeze, its verify, the client's answers, the checks."""

    from_phase: int
    to_phase: int
    group: str
    seconds: float = 0.0
    # None when no freeze happened (the cutover was refused).
    freeze_seconds: float | None = None
    changes_synced: int = 0
    moved_back: Mapping[str, int] = field(default_factory=dict)
    # The cutover's verify of the moving data in the freeze: "passed", "FAILED", or "none" for a
    # route group without data of its own (the pages), "" when the cutover did not get there.
    verify: str = ""
    # "refused: ...", "undone: ..." or "stopped: ..." when the cutover did not move the stack.
    failure: str = ""
    client: WorkloadTally = field(default_factory=WorkloadTally)
    checks: StepChecks | None = None

    @property
    def forward(self) -> bool:
        """A step to a later phase (data is synced); back, data is moved back."""
        return self.to_phase > self.from_phase

    @property
    def moved(self) -> bool:
        """The stack is in `to_phase` after the step."""
        return not self.failure

    @property
    def ok(self) -> bool:
        """The step moved the stack, and every check of it passed (see the module's docstring)."""
        return (
            self.moved
            and self.verify in {"passed", "none"}
            and self.checks is not None
            and self.checks.ok
            and not self.client.unexpected
        )

    def line(self) -> str:
        """One line for the progress: the step's verdict and its checks."""
        name = f"phase {self.from_phase} -> {self.to_phase}"
        if self.failure:
            return f"{name}: {self.failure}"
        checks = self.checks
        data = (
            "not checked"
            if checks is None or checks.verified is None
            else f"data at phase {checks.phase} {_verdict(checks.verified).lower()}"
        )
        reads = "browse not run" if checks is None or checks.browse_ok is None else _browse_cell(checks)
        client = self.client
        return (
            f"{name}: {data}; browse {reads}; client {client.requests} requests, {client.frozen} refused by"
            f" the freeze, {len(client.unexpected)} errors; {'passed' if self.ok else 'FAILED'}"
        )

    def to_json(self) -> dict[str, Any]:
        """The step's figures as JSON-ready data."""
        checks = self.checks
        return {
            "step": f"{self.from_phase} -> {self.to_phase}",
            "from_phase": self.from_phase,
            "to_phase": self.to_phase,
            "route_group": self.group,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "freeze_seconds": None if self.freeze_seconds is None else round(self.freeze_seconds, 3),
            # None where nothing of the kind moved: the other way, or the pages (no data of their own).
            "changes_synced": self.changes_synced if self.forward and self.verify != "none" else None,
            "moved_back": dict(self.moved_back) if not self.forward and self.verify != "none" else None,
            "verify": self.verify or None,
            "failure": self.failure or None,
            "client": {
                "requests": self.client.requests,
                "acknowledged": self.client.acknowledged,
                "frozen_503": self.client.frozen,
                "errors": len(self.client.unexpected),
                "unexpected": list(self.client.unexpected),
                # Sent again once, their kept-alive connection closed before any answer.
                "resent": self.client.resent,
            },
            "checks": None if checks is None else asdict(checks),
        }


@dataclass
class PhasedRehearsal:
    """A whole walk: its steps in order, where it ran, and whether every step passed."""

    edge_url: str
    usernames: Sequence[str]
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every step of the plan was taken, and passed."""
        walked = tuple((step.from_phase, step.to_phase) for step in self.steps)
        return walked == WALK and all(step.ok for step in self.steps)

    @property
    def phase(self) -> int:
        """The phase the stack is in now."""
        for step in reversed(self.steps):
            if step.moved:
                return step.to_phase
        return 0

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-ready data (`.snappy/rehearsal-phased.json`)."""
        return {
            "ok": self.ok,
            "edge_url": self.edge_url,
            "sample_users": list(self.usernames),
            "phase_now": self.phase,
            "steps": [step.to_json() for step in self.steps],
            "client_totals": {
                "requests": sum(step.client.requests for step in self.steps),
                "frozen_503": sum(step.client.frozen for step in self.steps),
                "errors": sum(len(step.client.unexpected) for step in self.steps),
            },
        }

    def write(self, path: Path) -> None:
        """Write the figures to `path` as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def cutover_step(
    stack: LocalStack,
    from_phase: int,
    to_phase: int,
    *,
    workload: EdgeWorkload,
    usernames: Sequence[str],
    password: str,
    report_dir: Path,
    echo: Callable[[str], None],
) -> StepOutcome:
    """`snappy cutover --to to_phase` on the running stack under `workload`, then the checks."""
    group = moving_group(from_phase, to_phase)
    step = StepOutcome(
        from_phase, to_phase, str(group) if group is not None else _no_group(from_phase, to_phase)
    )
    before = workload.tally()
    started = time.monotonic()
    try:
        result = cutover(
            stack,
            to_phase,
            max_lag=_MAX_LAG,
            timeline=Timeline(echo=echo),
            report_dir=report_dir,
        )
    except Refused as error:
        step.failure = f"refused: {one_line(error)}"
    except Undone as error:
        step.failure = f"undone: {one_line(error)}"
    except MigrationError as error:
        # The data migration could not go on before the freeze (a sync, a backfill): nothing changed.
        step.failure = f"stopped: {one_line(error)}"
    else:
        step.freeze_seconds = result.freeze_seconds
        step.changes_synced = result.changes_synced
        step.moved_back = dict(result.moved_back)
        step.verify = "none" if result.report is None else "passed" if result.report.ok else "FAILED"
        step.checks = check_the_stack(stack, to_phase, usernames, password)
    step.seconds = time.monotonic() - started
    step.client = workload.tally().since(before)
    echo(step.line())
    return step


def _no_group(from_phase: int, to_phase: int) -> str:
    """The "route group moved" cell of a step between phases 3 and 4, which moves none."""
    return "none: monolith " + ("retired" if to_phase > from_phase else "back")


def check_the_stack(stack: LocalStack, phase: int, usernames: Sequence[str], password: str) -> StepChecks:
    """The data verified at `phase` (explained differences aside), and `snappy browse` of `usernames`."""
    checks = StepChecks(phase)
    try:
        with open_stores(stack.endpoints()) as stores:
            sync(stores, progress=_unseen_progress)
            report = verify_at_phase(stores, phase, with_objects=False)
            unexplained = differences_not_in_the_change_log(stores, report)
    except MigrationError as error:
        checks.verified, checks.verify_problem = False, one_line(error)
    else:
        checks.verified, checks.verify_problem = not unexplained, unexplained
    edge_url = stack.strangler_url or ""
    try:
        browsing: Browsing = browse(edge_url, usernames, password)
    except UserViewsError as error:
        checks.browse_ok, checks.browse_lines = False, [one_line(error)]
    else:
        checks.browse_ok = browsing.ok
        checks.browse_reads = sum(user.reads for user in browsing.users)
        checks.browse_lines = browsing.lines()
    return checks


def _unseen_progress(label: str, total: int, unit: str) -> Progress:
    """The check's sync shows no progress line: the step's line says how the data verified."""
    return Progress(label, total, unit, stream=io.StringIO())


def render_table(rehearsal: PhasedRehearsal) -> list[str]:
    """The table, one row per step and a row of totals, then a line for each problem found."""
    rows = [_row(step) for step in rehearsal.steps]
    totals = dict.fromkeys(_COLUMNS, "")
    totals["step"] = "total"
    totals["requests"] = str(sum(step.client.requests for step in rehearsal.steps))
    totals["freeze 503s"] = str(sum(step.client.frozen for step in rehearsal.steps))
    totals["errors"] = str(sum(len(step.client.unexpected) for step in rehearsal.steps))
    totals["step (s)"] = f"{sum(step.seconds for step in rehearsal.steps):.1f}"
    widths = {column: max(len(column), *(len(row[column]) for row in [*rows, totals])) for column in _COLUMNS}

    def line(cells: Mapping[str, str]) -> str:
        aligned = [
            cells[column].rjust(widths[column])
            if column in _NUMERIC_COLUMNS
            else cells[column].ljust(widths[column])
            for column in _COLUMNS
        ]
        return "  ".join(aligned).rstrip()

    header = dict(zip(_COLUMNS, _COLUMNS, strict=True))
    rule = {column: "-" * widths[column] for column in _COLUMNS}
    lines = [line(header), line(rule), *map(line, rows), line(rule), line(totals)]
    return lines + _problems(rehearsal)


def _row(step: StepOutcome) -> dict[str, str]:
    checks = step.checks
    if not step.moved or step.verify == "none":
        # Refused, undone, or the pages: no data moved with the step.
        data = "-"
    elif step.forward:
        data = f"{step.changes_synced:,} synced"
    else:
        # "users rows 13" is "users 13" here; the figures keep the cutover's names.
        moved = ", ".join(f"{key.replace(' rows', '')} {value:,}" for key, value in step.moved_back.items())
        data = f"back: {moved or 'nothing'}"
    return {
        "step": f"{step.from_phase} -> {step.to_phase}",
        "route group moved": step.group,
        "freeze (s)": "-" if step.freeze_seconds is None else f"{step.freeze_seconds:.3f}",
        "synced / moved back": data,
        "verify": step.verify or step.failure.split(":")[0],
        "data after": "-" if checks is None or checks.verified is None else _verdict(checks.verified),
        "requests": str(step.client.requests),
        "freeze 503s": str(step.client.frozen),
        "errors": str(len(step.client.unexpected)),
        "browse": "-" if checks is None or checks.browse_ok is None else _browse_cell(checks),
        "step (s)": f"{step.seconds:.1f}",
    }


def _verdict(passed: bool) -> str:
    return "passed" if passed else "FAILED"


def _browse_cell(checks: StepChecks) -> str:
    return f"OK ({checks.browse_reads} reads)" if checks.browse_ok else "FAILED"


def _problems(rehearsal: PhasedRehearsal) -> list[str]:
    """A line for each thing that failed, under the table, naming its step."""
    lines: list[str] = []
    for step in rehearsal.steps:
        name = f"{step.from_phase} -> {step.to_phase}"
        if step.failure:
            lines.append(f"{name}: the cutover was {step.failure}")
        if step.verify == "FAILED":
            lines.append(f"{name}: the verify in the freeze FAILED (its report: cutover-*-frozen.json)")
        checks = step.checks
        if checks is not None and checks.verified is False:
            lines.append(f"{name}: the data at phase {checks.phase} does not verify: {checks.verify_problem}")
        if checks is not None and checks.browse_ok is False:
            lines += [f"{name}: browse: {browse_line}" for browse_line in checks.browse_lines]
        unexpected = step.client.unexpected
        for answer in unexpected[:_UNEXPECTED_SHOWN]:
            lines.append(f"{name}: client: {answer}")
        if len(unexpected) > _UNEXPECTED_SHOWN:
            lines.append(f"{name}: client: ... and {len(unexpected) - _UNEXPECTED_SHOWN} more")
    return lines
