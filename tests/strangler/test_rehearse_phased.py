"""`snappy rehearse --phased`: the strangler stack walks 0 -> 4 -> 0 under a client, every step checked.

The command runs as a developer runs it (embedded PostgreSQL and S3, a state folder of its
own, a free port): it starts the stack at phase 0 with the sample data, walks it with
cutovers while its client writes and reads through the edge, prints a table of the eight
steps, writes the same figures to `rehearsal-phased.json`, and keeps the stack up until it
is stopped, then exits 0 because every step passed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.phased_rehearsal import FIGURES_FILE, WALK
from snappy_devstack.processes import free_ports
from tests.strangler.conftest import STOP_TIMEOUT_SECONDS, snappy, start_snappy

# Embedded servers, five parts, the sample data and eight cutovers with their checks.
_DONE_TIMEOUT_SECONDS = 600
_DONE = "Press Ctrl-C to stop."
# pytest's `record_property` fixture: a figure kept in the JUnit report.
RecordProperty = Callable[[str, object], None]


def test_the_phased_rehearsal_walks_eight_steps_each_verified_with_no_unexplained_client_error(
    tmp_path: Path, record_property: RecordProperty
) -> None:
    state_dir = tmp_path / ".snappy"
    (port,) = free_ports(1)
    output_path = tmp_path / "rehearse-phased.out"
    command = [*snappy(), "rehearse", "--phased", "--port", str(port), "--state-dir", str(state_dir)]
    process = start_snappy(command, tmp_path, output_path)
    try:
        _wait_until_done(process, output_path)
    finally:
        status = _stop(process)
    output = output_path.read_text(errors="replace")

    rows = _table_rows(output)
    assert [row[0] for row in rows] == [f"{start} -> {end}" for start, end in WALK], output
    for row in rows:
        step, group, freeze, _data, verify, after, requests, frozen, errors, browse, _seconds = row
        assert group in {
            "users and tokens",
            "photos, shares, feed",
            "web pages",
            "none: monolith retired",
            "none: monolith back",
        }, row
        # Between phases 3 and 4 no route group moves, and nothing is frozen.
        assert (float(freeze) > 0) is (not group.startswith("none")), row
        # The pages carry no data of their own: no verify in the freeze, the data checked after.
        assert verify == ("none" if group == "web pages" else "passed"), row
        assert after == "passed", row
        assert errors == "0", row
        assert int(requests) > 0, f"the client sent nothing during {step}"
        assert frozen.isdigit(), row
        assert browse.startswith("OK ("), row
    assert "Every step passed." in output
    assert f"The stack keeps running at phase 0 at http://127.0.0.1:{port}." in output
    assert status == 0, output

    figures: dict[str, Any] = json.loads((state_dir / FIGURES_FILE).read_text())
    assert figures["ok"] is True
    assert figures["phase_now"] == 0
    assert [(step["from_phase"], step["to_phase"]) for step in figures["steps"]] == list(WALK)
    assert all(step["client"]["errors"] == 0 for step in figures["steps"])
    assert figures["client_totals"]["errors"] == 0
    totals = figures["client_totals"]
    assert totals["frozen_503"] == sum(step["client"]["frozen_503"] for step in figures["steps"])
    record_property("steps", "; ".join(f"{row[0]}: freeze {row[2]} s, step {row[10]} s" for row in rows))
    record_property("client requests, freeze 503s", f"{totals['requests']}, {totals['frozen_503']}")


def _wait_until_done(process: subprocess.Popen[bytes], output_path: Path) -> None:
    deadline = time.monotonic() + _DONE_TIMEOUT_SECONDS
    while _DONE not in (output := output_path.read_text(errors="replace")):
        if process.poll() is not None:
            pytest.fail(f"snappy rehearse --phased exited with {process.returncode}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"snappy rehearse --phased was not done within {_DONE_TIMEOUT_SECONDS} s:\n{output}")
        time.sleep(0.25)


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as Ctrl-C would; the command's exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("snappy rehearse --phased did not stop on SIGTERM")
    return process.returncode


def _table_rows(output: str) -> list[list[str]]:
    """The cells of each step's row of the table (two spaces or more between cells)."""
    lines = output.splitlines()
    header = lines.index("Phased rehearsal") + 1
    assert lines[header].startswith("step "), output
    rows: list[list[str]] = []
    for line in lines[header + 2 :]:
        if line.startswith("-"):
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows
