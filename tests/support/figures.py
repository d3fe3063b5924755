"""The figures a reliability test measured: kept for the terminal summary and in a report file.

The report is `.snappy/reliability/figures.json` (git-ignored): one entry per test, the
last run's, so `docs/reliability.md` can quote a real run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.support.integrity import ReadBack, StoreAudit
from tests.support.load import LoadResult

__all__ = ["REPORT_PATH", "load_figures", "write_figures"]

REPORT_PATH = Path(__file__).resolve().parents[2] / ".snappy" / "reliability" / "figures.json"


def load_figures(result: LoadResult, read: ReadBack, audit: StoreAudit) -> dict[str, Any]:
    """What every load-based test reports: requests by outcome, and what survived."""
    return {
        "requests": len(result.outcomes),
        "by_outcome": result.by_label(),
        "acknowledged_uploads": read.uploads_checked,
        "acknowledged_shares": read.shares_checked,
        "lost_writes": read.lost_writes,
        "photo_rows": audit.rows,
        "objects": audit.objects,
        "rows_without_objects": len(audit.rows_without_objects),
        "objects_without_rows": len(audit.objects_without_rows),
        "objects_swept": audit.swept,
        "objects_without_rows_after_sweep": len(audit.objects_without_rows_after_sweep),
        "unacknowledged_rows": len(audit.unacknowledged_rows),
    }


def write_figures(test_id: str, figures: dict[str, Any]) -> None:
    """Merge one test's figures into the report file."""
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    try:
        report: dict[str, Any] = json.loads(REPORT_PATH.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        report = {}
    report[test_id] = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}
    # Written aside, then renamed: a session running at the same time never reads half a file.
    partial = REPORT_PATH.with_name(f"{REPORT_PATH.name}.{os.getpid()}")
    partial.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    partial.replace(REPORT_PATH)
