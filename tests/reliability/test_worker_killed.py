"""A gunicorn worker of the upload component killed with SIGKILL under load.

The master forks a replacement; the requests that were on the dead worker fail cleanly
(no answer, or a 5xx from the edge), every later one succeeds, and every acknowledged
write is still there afterwards, byte for byte.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from tests.reliability.conftest import CLIENTS, assert_no_acknowledged_write_lost
from tests.support.figures import load_figures
from tests.support.integrity import unexplained_strays
from tests.support.load import start_load
from tests.support.processes import wait_for_workers, worker_pids
from tests.support.stacks import StackUnderLoad
from tests.support.waiting import seconds_until_ready

LOAD_SECONDS = 5
KILL_AFTER_SECONDS = 2


def test_a_worker_killed_under_load_loses_no_acknowledged_write(
    stack: StackUnderLoad, figures: dict[str, Any]
) -> None:
    master_pid = stack.upload_instance.process.pid
    [worker_pid] = worker_pids(master_pid)
    load = start_load(stack.public_url, clients=CLIENTS, seconds=LOAD_SECONDS)
    time.sleep(KILL_AFTER_SECONDS)
    kill_sent_at = time.monotonic()
    os.kill(worker_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    recovery_seconds = seconds_until_ready(f"{stack.public_url}/readyz", since=killed_at)
    replacements = wait_for_workers(master_pid, 1, excluding={worker_pid})
    replaced_after = time.monotonic() - killed_at
    result = load.wait()
    read, audit = stack.verify_writes(result)

    failures = result.failures()
    # On the dead worker: in flight when it died, or sent on a connection still open to it
    # (through the switch or the edge's pool) before the service answered again.
    on_dead_worker = [
        o for o in failures if o.finished >= kill_sent_at and o.started <= killed_at + recovery_seconds
    ]
    failed_uploads = [o for o in failures if o.operation == "upload"]
    figures.update(load_figures(result, read, audit))
    figures["failed_on_dead_worker"] = len(on_dead_worker)
    figures["failures_relative_to_kill"] = [
        f"{o.operation} {o.label} sent {o.started - killed_at:+.3f}s ended {o.finished - killed_at:+.3f}s"
        for o in failures
    ]
    figures["recovery_seconds"] = round(recovery_seconds, 2)
    figures["replacement_worker_seconds"] = round(replaced_after, 2)
    figures["succeeded_after_kill"] = sum(1 for o in result.outcomes if o.started > killed_at and o.succeeded)

    assert len(replacements) == 1
    assert master_pid == stack.upload_instance.process.pid
    # Every failure is a clean one, and belongs to a request that was on the worker when it died.
    assert [o for o in failures if not o.failed_cleanly] == []
    assert failures == on_dead_worker
    assert figures["succeeded_after_kill"] > 0
    assert_no_acknowledged_write_lost(read, audit)
    # A row nobody was told about holds bytes some client sent: its answer died with the worker.
    assert len(audit.unacknowledged_rows) <= len(failed_uploads)
    # SIGKILL between storing an upload's objects and committing its row leaves them
    # unreferenced: no compensation runs in a killed process. They are counted in the
    # figures, must be the remains of uploads that died with the worker, and no user sees them.
    assert unexplained_strays(audit, len(failed_uploads)) == []
    # The sweep (grace 0: the load has stopped) deletes exactly those.
    assert audit.swept == len(audit.objects_without_rows)
