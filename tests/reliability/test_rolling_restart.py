"""A rolling restart of the upload component under load, as a Kubernetes rolling update does it.

A new instance starts on another port and becomes ready; the TCP switch in front of the
component sends new connections to it; the old instance gets SIGTERM and drains what it
has in flight within gunicorn's graceful timeout. For the microservices the switch sits
between the edge and photo-service: the edge reads photo-service's address once, at
start, so the switch's address is the one it keeps. Not one request may fail.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from tests.reliability.conftest import CLIENTS, assert_no_acknowledged_write_lost
from tests.support.figures import load_figures
from tests.support.load import start_load
from tests.support.stacks import StackUnderLoad

# The load goes on until the new instance has served alone for a while; this caps it.
LOAD_LIMIT_SECONDS = 60
RESTART_AFTER_SECONDS = 1.5
LOAD_AFTER_RESTART_SECONDS = 1.5


def test_a_rolling_restart_under_load_fails_no_request(
    stack: StackUnderLoad, figures: dict[str, Any]
) -> None:
    old = stack.upload_instance
    load = start_load(stack.public_url, clients=CLIENTS, seconds=LOAD_LIMIT_SECONDS)
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
    result = load.stop()
    read, audit = stack.verify_writes(result)

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
    assert_no_acknowledged_write_lost(read, audit)
    assert audit.rows == read.uploads_checked
    assert audit.objects_without_rows == []
    assert audit.swept == 0
