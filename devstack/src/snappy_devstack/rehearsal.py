"""The migration rehearsal's steps: reset the services' stores, migrate, prove parity, sum up.

`snappy rehearse` runs the monolith and the microservices side by side, moves the
monolith's data into the microservices' empty stores with the data migration, and then
proves the move three ways: the migration's own verification (rows, references,
objects), data parity (every sample user sees exactly the same on both versions) and
scenario parity (the parity test suite, run against the two running stacks). The command
itself lives in `cli`; this module holds the steps and the summary they add up to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from snappy_devstack.backing import BackingServices, create_bucket, create_database, delete_bucket
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.local_stack import LocalStack
from snappy_devstack.processes import log_tail
from snappy_migration.backfill import backfill
from snappy_migration.stores import open_stores
from snappy_migration.sync import sync
from snappy_migration.verify import REPORT_FILE, VerifyReport, verify
from snappy_topology import JOBS, PARTS, JobName

__all__ = [
    "PARITY_MICROSERVICES_URL_VARIABLE",
    "PARITY_MONOLITH_URL_VARIABLE",
    "REPORT_FILE",
    "MigrationOutcome",
    "RehearsalSummary",
    "ScenarioParity",
    "migrate_local_stack",
    "render_summary",
    "repository_root",
    "reset_microservices_side",
    "run_scenario_parity",
]

# The parity suite targets two running stacks when both are set (tests/parity/test_parity.py).
PARITY_MONOLITH_URL_VARIABLE: Final = "SNAPPY_PARITY_MONOLITH_URL"
PARITY_MICROSERVICES_URL_VARIABLE: Final = "SNAPPY_PARITY_MICROSERVICES_URL"
_PARITY_TESTS = Path("tests") / "parity"
_PARITY_TIMEOUT_SECONDS = 900
# Differences listed in the summary; the count is always complete.
_DIFFERENCES_SHOWN = 20

PASSED: Final = "passed"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"


# The stores the data migration writes: the microservices' side of a rehearsal.
_MIGRATED_PARTS = [PARTS[name] for name in JOBS[JobName.DATA_MIGRATION].writes]
MIGRATED_DATABASES = tuple(part.database for part in _MIGRATED_PARTS if part.database is not None)
MIGRATED_BUCKETS = tuple(part.bucket for part in _MIGRATED_PARTS if part.bucket is not None)


def reset_microservices_side(services: BackingServices) -> None:
    """Drop and recreate the services' databases and empty their bucket: a rehearsal moves into empty stores.

    The monolith's database and bucket are left as they are, so its data grows across rehearsals.
    """
    for database in MIGRATED_DATABASES:
        create_database(services.postgres_url, database, drop_existing=True)
    for bucket in MIGRATED_BUCKETS:
        delete_bucket(services.s3, bucket)
        create_bucket(services.s3, bucket)


@dataclass(frozen=True)
class MigrationOutcome:
    """What the migration moved, and what its verification found."""

    rows: Mapping[str, int]
    changes_synced: int
    objects: int
    report: VerifyReport
    report_path: Path


def migrate_local_stack(stack: LocalStack, report_path: Path) -> MigrationOutcome:
    """Backfill, sync until the change log is empty, and verify; write the report as JSON to `report_path`.

    Raises the data migration's MigrationError when it cannot go on.
    """
    with open_stores(stack.endpoints()) as stores:
        moved = backfill(stores)
        synced = sync(stores)
        report = verify(stores)
    report.write(report_path)
    return MigrationOutcome(
        rows=dict(moved.rows),
        changes_synced=synced.entries,
        objects=moved.objects,
        report=report,
        report_path=report_path,
    )


def repository_root() -> Path | None:
    """The repository this package is installed from (editable), when its parity tests are there."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / _PARITY_TESTS).is_dir() else None


@dataclass(frozen=True)
class ScenarioParity:
    """The parity suite's outcome against the running stacks: passed, failed or skipped, and why."""

    result: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Not failed (a skip is no failure: there was nothing to run)."""
        return self.result != FAILED


def run_scenario_parity(
    monolith_url: str, microservices_url: str, *, log_path: Path, root: Path | None
) -> ScenarioParity:
    """Run `pytest tests/parity` in `root` against the two running stacks; its output goes to `log_path`."""
    if root is None:
        return ScenarioParity(SKIPPED, "no tests folder")
    environment = {
        **os.environ,
        PARITY_MONOLITH_URL_VARIABLE: monolith_url,
        PARITY_MICROSERVICES_URL_VARIABLE: microservices_url,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        try:
            completed = subprocess.run(  # noqa: S603 - a fixed argv built here
                [sys.executable, "-m", "pytest", str(_PARITY_TESTS), "-q", "-p", "no:cacheprovider"],
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_PARITY_TIMEOUT_SECONDS,
                # Ctrl-C reaches `snappy` alone, which then stops this run with the rest.
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ScenarioParity(FAILED, f"no result after {_PARITY_TIMEOUT_SECONDS} s (log: {log_path})")
        except OSError as error:
            raise DevstackError(f"cannot run the parity tests: {one_line(error)}") from error
    last_line = (log_tail(log_path, 1) or "no output").strip()
    if completed.returncode == 0:
        return ScenarioParity(PASSED, last_line)
    return ScenarioParity(FAILED, f"{last_line} (log: {log_path})")


@dataclass
class RehearsalSummary:
    """Everything a rehearsal found, for the block it prints at the end."""

    monolith_url: str
    microservices_url: str
    usernames: Sequence[str]
    password: str
    migration: MigrationOutcome | None = None
    migration_error: str | None = None
    users_compared: int = 0
    view_differences: list[str] = field(default_factory=list)
    data_parity_error: str | None = None
    scenario: ScenarioParity = field(default_factory=lambda: ScenarioParity(SKIPPED, "not run"))

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return (
            self.migration is not None
            and self.migration.report.ok
            and self.data_parity_error is None
            and not self.view_differences
            and self.scenario.ok
        )


def render_summary(summary: RehearsalSummary) -> list[str]:
    """The summary block, one line each: what moved, each check's outcome, and where to click."""
    lines = ["", "Rehearsal summary"]
    migration = summary.migration
    if migration is None:
        lines.append(f"  migration:       FAILED: {summary.migration_error or 'not run'}")
    else:
        rows = ", ".join(f"{table} {count:,}" for table, count in migration.rows.items()) or "none"
        lines.append(
            f"  moved:           rows {rows}; {migration.changes_synced:,} changes synced;"
            f" objects copied {migration.objects:,}"
        )
        verdict = "passed" if migration.report.ok else "FAILED"
        lines.append(f"  verification:    {verdict} (report: {migration.report_path})")
    if summary.data_parity_error is not None:
        lines.append(f"  data parity:     FAILED: {summary.data_parity_error}")
    elif migration is None:
        lines.append("  data parity:     skipped (the migration failed)")
    else:
        count = len(summary.view_differences)
        lines.append(
            f"  data parity:     {summary.users_compared} users compared,"
            f" {count} difference{'' if count == 1 else 's'}"
        )
        lines += [f"    {difference}" for difference in summary.view_differences[:_DIFFERENCES_SHOWN]]
        if count > _DIFFERENCES_SHOWN:
            lines.append(f"    ... and {count - _DIFFERENCES_SHOWN} more")
    scenario = summary.scenario
    verdict = {PASSED: "passed", FAILED: "FAILED", SKIPPED: "skipped"}.get(scenario.result, scenario.result)
    lines.append(f"  scenario parity: {verdict}{f' ({scenario.detail})' if scenario.detail else ''}")
    lines += [
        f"  monolith:        {summary.monolith_url}",
        f"  microservices:   {summary.microservices_url}",
        f"  log in as {', '.join(summary.usernames)} (password: {summary.password}) on either",
    ]
    if summary.ok:
        lines.append("Every check passed. Both stacks keep running; press Ctrl-C to stop.")
    else:
        lines.append(
            "Some checks FAILED (above). Both stacks keep running so you can look;"
            " press Ctrl-C to stop (the command then exits with status 1)."
        )
    return lines
