"""Fixtures of the reliability tests: the figures each test measured, printed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.figures import REPORT_PATH, write_figures

_MEASURED = pytest.StashKey[dict[str, dict[str, Any]]]()


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
