"""A bounded load of concurrent users on each version: every acknowledged write is there afterwards."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices
from tests.support.figures import load_figures
from tests.support.integrity import audit_stores, read_back
from tests.support.load import run_load
from tests.support.stacks import VERSIONS, start_stack

CLIENTS = 4
LOAD_SECONDS = 10


@pytest.mark.parametrize("version", VERSIONS)
def test_a_load_of_concurrent_users_loses_nothing(
    version: str, backing: BackingServices, tmp_path: Path, figures: dict[str, Any]
) -> None:
    with start_stack(backing, version, tmp_path) as stack:
        began = time.monotonic()
        result = run_load(stack.public_url, clients=CLIENTS, seconds=LOAD_SECONDS)
        elapsed = time.monotonic() - began
        read = read_back(stack.public_url, result)
        audit = audit_stores(backing, version, stack.photo_database_url, stack.bucket, result)

    figures.update(load_figures(result, read, audit))
    figures["clients"] = CLIENTS
    figures["seconds"] = round(elapsed, 1)
    figures["requests_per_second"] = round(len(result.outcomes) / elapsed, 1)
    assert result.failures() == []
    assert read.uploads_checked > 0
    assert read.shares_checked > 0
    assert read.lost_uploads == []
    assert read.lost_shares == []
    assert audit.rows == read.uploads_checked
    assert audit.rows_without_objects == []
    assert audit.objects_without_rows == []
    assert audit.swept == 0
    assert audit.objects == 2 * audit.rows
