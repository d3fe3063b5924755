"""Fixtures of the reliability tests: a stack of each version, and the figures each test measured,
printed at the end; the check every load-based test ends with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices
from tests.support.figures import REPORT_PATH, write_figures
from tests.support.integrity import ReadBack, StoreAudit
from tests.support.stacks import VERSIONS, StackUnderLoad, start_stack

_MEASURED = pytest.StashKey[dict[str, dict[str, Any]]]()
# Concurrent users in every load-based test.
CLIENTS = 4


@pytest.fixture(params=VERSIONS)
def stack(
    request: pytest.FixtureRequest, backing: BackingServices, tmp_path: Path
) -> Iterator[StackUnderLoad]:
    """Each version under gunicorn on stores of its own, its upload component behind a switch."""
    with start_stack(backing, request.param, tmp_path) as started:
        yield started


def assert_no_acknowledged_write_lost(read: ReadBack, audit: StoreAudit) -> None:
    """Writes were acknowledged, each reads back as sent, and every photo row kept its objects,
    before the sweep of unreferenced objects and after it, which left no object without its row."""
    assert read.uploads_checked > 0
    assert read.lost_uploads == []
    assert read.lost_shares == []
    assert audit.rows_without_objects == []
    assert audit.objects_without_rows_after_sweep == []


@pytest.fixture
def figures(request: pytest.FixtureRequest, record_property: Any) -> Iterator[dict[str, Any]]:
    """A dict the test fills with what it measured; kept, written to the report and printed."""
    measured: dict[str, Any] = {}
    yield measured
    if measured:
        for name, value in measured.items():
            record_property(name, value)
        write_figures(request.node.nodeid, measured)
        request.config.stash.setdefault(_MEASURED, {})[request.node.nodeid] = measured


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the figures of every reliability test that ran."""
    measured = config.stash.get(_MEASURED, {})
    if not measured:
        return
    terminalreporter.section("reliability figures")
    for test_id, values in measured.items():
        terminalreporter.write_line(test_id)
        for name, value in values.items():
            terminalreporter.write_line(f"    {name}: {value}")
    terminalreporter.write_line(f"(also in {REPORT_PATH})")
