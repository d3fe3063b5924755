"""A rolling restart of the upload component under load, as a Kubernetes rolling update does it.

A new instance starts on another port and becomes ready; the TCP switch in front of the
component sends new connections to it; the old instance gets SIGTERM and drains what it
has in flight within gunicorn's graceful timeout. For the microservices the switch sits
between the edge and photo-service: the edge reads photo-service's address once, at
start, so the switch's address is the one it keeps. Not one request may fail.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices
from tests.support.figures import load_figures
from tests.support.integrity import audit_stores, read_back
from tests.support.load import LoadResult, run_load
from tests.support.stacks import VERSIONS, start_stack

CLIENTS = 4
# The load goes on until the new instance has served alone for a while; this caps it.
LOAD_LIMIT_SECONDS = 60
RESTART_AFTER_SECONDS = 1.5
LOAD_AFTER_RESTART_SECONDS = 1.5


@pytest.mark.parametrize("version", VERSIONS)
def test_a_rolling_restart_under_load_fails_no_request(
    version: str, backing: BackingServices, tmp_path: Path, figures: dict[str, Any]
) -> None:
    with start_stack(backing, version, tmp_path) as stack:
        old = stack.upload_instance
        results: list[LoadResult] = []
        rounds_began = threading.Event()
        restarted = threading.Event()
        load = threading.Thread(
            target=lambda: results.append(
                run_load(
                    stack.public_url,
                    clients=CLIENTS,
                    seconds=LOAD_LIMIT_SECONDS,
                    started=rounds_began,
                    stop=restarted,
                )
            )
        )
        load.start()
        assert rounds_began.wait(timeout=60)
        time.sleep(RESTART_AFTER_SECONDS)
        starting_at = time.monotonic()
        new = stack.spawn_upload_instance()  # returns once the new instance's /readyz answers 200
        ready_after = time.monotonic() - starting_at
        stack.switch.switch_to(new.address)
        switched_at = time.monotonic()
        old.process.send_signal(signal.SIGTERM)
        old_exit_status = old.process.wait(timeout=30)
        old_gone_at = time.monotonic()
        time.sleep(LOAD_AFTER_RESTART_SECONDS)
        restarted.set()
        load.join()
        [result] = results
        read = read_back(stack.public_url, result)
        audit = audit_stores(backing, version, stack.photo_database_url, stack.bucket, result)

    figures.update(load_figures(result, read, audit))
    figures["new_instance_ready_seconds"] = round(ready_after, 2)
    figures["old_instance_drained_seconds"] = round(old_gone_at - switched_at, 2)
    figures["succeeded_after_old_exit"] = sum(
        1 for o in result.outcomes if o.started > old_gone_at and o.succeeded
    )
    assert old_exit_status == 0
    assert result.failures() == []
    # Traffic went on, on the new instance alone, once the old one was gone.
    assert figures["succeeded_after_old_exit"] > 0
    assert read.uploads_checked > 0
    assert read.lost_uploads == []
    assert read.lost_shares == []
    assert audit.rows == read.uploads_checked
    assert audit.rows_without_objects == []
    assert audit.objects_without_rows == []
    assert audit.swept == 0
