"""A bounded load of concurrent users on each version: every acknowledged write is there afterwards."""

from __future__ import annotations

import time
from typing import Any

from tests.reliability.conftest import CLIENTS, assert_no_acknowledged_write_lost
from tests.support.figures import load_figures
from tests.support.load import run_load
from tests.support.stacks import StackUnderLoad

LOAD_SECONDS = 10


def test_a_load_of_concurrent_users_loses_nothing(stack: StackUnderLoad, figures: dict[str, Any]) -> None:
    began = time.monotonic()
    result = run_load(stack.public_url, clients=CLIENTS, seconds=LOAD_SECONDS)
    elapsed = time.monotonic() - began
    read, audit = stack.verify_writes(result)

    figures.update(load_figures(result, read, audit))
    figures["clients"] = CLIENTS
    figures["seconds"] = round(elapsed, 1)
    figures["requests_per_second"] = round(len(result.outcomes) / elapsed, 1)
    assert result.failures() == []
    assert_no_acknowledged_write_lost(read, audit)
    assert read.shares_checked > 0
    assert audit.rows == read.uploads_checked
    assert audit.objects_without_rows == []
    assert audit.swept == 0
    assert audit.objects == 2 * audit.rows
