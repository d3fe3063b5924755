"""What `snappy up --stack strangler` says of the data at its start, phase 4's retirement included."""

from __future__ import annotations

from pathlib import Path

import pytest

from snappy_devstack.strangler import RETIRED, StranglerData
from snappy_migration.verify import VerifyReport


def _started(phase: int, recorded: int) -> StranglerData:
    report = VerifyReport(tables=[], orphans=[], objects=None, pending_changes=0)
    return StranglerData(phase=phase, recorded=recorded, report=report, report_path=Path("report.json"))


def test_phase_4_says_what_it_retires_and_what_it_keeps_for_the_way_back() -> None:
    lines = _started(4, 3).lines()

    assert lines[0] == "data:    restarted at phase 4 from phase 3 (the same writers): 0 changes synced"
    assert lines[1] == "verify:  passed at phase 4 (report: report.json)"
    assert lines[2] == RETIRED
    assert "the monolith's process" in RETIRED
    assert "its database" in RETIRED
    assert "its bucket" in RETIRED


@pytest.mark.parametrize(("phase", "recorded"), [(1, 1), (2, 2), (3, 4), (3, 3)])
def test_other_phases_retire_nothing(phase: int, recorded: int) -> None:
    lines = _started(phase, recorded).lines()

    assert RETIRED not in lines
    assert lines[0].startswith(f"data:    {'resumed' if phase == recorded else 'restarted'} at phase {phase}")
