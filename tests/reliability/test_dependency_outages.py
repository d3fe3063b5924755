"""PostgreSQL, then S3, taken away under load for longer than the deadlines, then given back.

The stack reaches both through `FaultProxy`s (tests/support/faults.py), so the machine's
shared servers keep running. While a dependency stalls, every request that needs it
gets a 503 problem document with Retry-After within its deadline, never a hang or a
500; nothing half-written remains; once the dependency is back, the service answers
again and every acknowledged write reads back byte for byte.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices
from tests.reliability.conftest import CLIENTS, assert_no_acknowledged_write_lost
from tests.support.dependency_faults import FAST_DATABASE, FAST_S3, fault_proxies
from tests.support.faults import FaultProxy
from tests.support.figures import load_figures
from tests.support.integrity import unexplained_strays
from tests.support.load import LoadResult, RequestOutcome, start_load
from tests.support.stacks import VERSIONS, StoreRoutes, start_stack
from tests.support.waiting import seconds_until_ready

LOAD_LIMIT_SECONDS = 90
WARM_UP_SECONDS = 1.0
# Longer than any one call's deadline with the short limits below (PostgreSQL 6 s at worst
# for a request's first query, S3 4 s), so requests in the outage meet it in full.
OUTAGE_SECONDS = 7.0
AFTER_RESTORE_SECONDS = 1.0
# Not a performance bound: a request must end well before a client would give up (30 s).
ANSWER_LIMIT_SECONDS = 15.0
SERVICE_UNAVAILABLE = "https://snappy.example/problems/service-unavailable"

# The short limits the in-process fault tests use, given to the processes as variables.
DEADLINES = {
    "SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS": str(FAST_DATABASE["pool_timeout_seconds"]),
    "SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS": str(FAST_DATABASE["connect_timeout_seconds"]),
    "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": str(FAST_DATABASE["lock_timeout_seconds"]),
    "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(FAST_DATABASE["statement_timeout_seconds"]),
    "SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS": str(FAST_DATABASE["answer_timeout_seconds"]),
    "SNAPPY_S3_CONNECT_TIMEOUT_SECONDS": str(FAST_S3["connect_timeout_seconds"]),
    "SNAPPY_S3_READ_TIMEOUT_SECONDS": str(FAST_S3["read_timeout_seconds"]),
    "SNAPPY_S3_MAX_ATTEMPTS": str(FAST_S3["max_attempts"]),
}


def take_away(proxy: FaultProxy, public_url: str) -> tuple[float, float, float]:
    """Stall `proxy` for OUTAGE_SECONDS, then pass again; (stalled at, restored at, recovery s)."""
    proxy.stall()
    stalled_at = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    proxy.pass_through()
    restored_at = time.monotonic()
    return stalled_at, restored_at, seconds_until_ready(f"{public_url}/readyz", since=restored_at)


def outcomes_between(result: LoadResult, start: float, end: float) -> list[RequestOutcome]:
    """Requests that were under way at some moment of [start, end]."""
    return [o for o in result.outcomes if o.finished >= start and o.started <= end]


@pytest.mark.parametrize("version", VERSIONS)
def test_postgres_then_s3_outages_give_timely_503s_and_lose_nothing(
    version: str, backing: BackingServices, tmp_path: Path, figures: dict[str, Any]
) -> None:
    with fault_proxies(backing) as faults:
        routes = StoreRoutes(
            postgres=faults.database.address,
            s3_endpoint_url=f"http://{faults.s3.host}:{faults.s3.port}",
        )
        with start_stack(backing, version, tmp_path, routes=routes, extra_environment=DEADLINES) as stack:
            load = start_load(stack.public_url, clients=CLIENTS, seconds=LOAD_LIMIT_SECONDS)
            time.sleep(WARM_UP_SECONDS)
            database_down, database_back, database_recovery = take_away(faults.database, stack.public_url)
            time.sleep(AFTER_RESTORE_SECONDS)
            s3_down, s3_back, s3_recovery = take_away(faults.s3, stack.public_url)
            time.sleep(AFTER_RESTORE_SECONDS)
            result = load.stop()
            read, audit = stack.verify_writes(result)

    failures = result.failures()
    unavailable = [o for o in failures if o.status == 503]
    figures.update(load_figures(result, read, audit))
    for name, down, back, recovery in (
        ("postgres", database_down, database_back, database_recovery),
        ("s3", s3_down, s3_back, s3_recovery),
    ):
        during = outcomes_between(result, down, back)
        figures[f"{name}_outage_seconds"] = round(back - down, 1)
        figures[f"{name}_outage_503s"] = sum(1 for o in during if o.status == 503)
        figures[f"{name}_outage_slowest_503_seconds"] = round(
            max((o.finished - o.started for o in during if o.status == 503), default=0.0), 2
        )
        figures[f"{name}_recovery_seconds"] = round(recovery, 2)
        figures[f"{name}_succeeded_after_restore"] = sum(
            1 for o in result.outcomes if o.started > back + recovery and o.succeeded
        )

    # Each outage was felt, and felt only as 503s carrying Retry-After and the problem type.
    assert figures["postgres_outage_503s"] > 0
    assert figures["s3_outage_503s"] > 0
    assert failures == unavailable
    assert [o for o in unavailable if o.problem_type != SERVICE_UNAVAILABLE] == []
    assert [
        o for o in unavailable if not (o.retry_after or "").isdigit() or int(o.retry_after or 0) < 1
    ] == []
    assert max(o.finished - o.started for o in result.outcomes) < ANSWER_LIMIT_SECONDS
    # Every 503 belongs to an outage: none once the dependency was back and ready.
    assert [
        o
        for o in unavailable
        if not (database_down <= o.finished and o.started <= database_back + database_recovery)
        and not (s3_down <= o.finished and o.started <= s3_back + s3_recovery)
    ] == []
    assert figures["postgres_succeeded_after_restore"] > 0
    assert figures["s3_succeeded_after_restore"] > 0
    # Nothing acknowledged is lost, nothing half-written remains.
    assert_no_acknowledged_write_lost(read, audit)
    failed_uploads = [o for o in unavailable if o.operation == "upload"]
    assert len(audit.unacknowledged_rows) <= len(failed_uploads)
    # With the object store itself gone, an upload whose original was stored before the
    # stall cannot delete it either: it stays, unreferenced and invisible. Only uploads that
    # failed in the S3 outage may leave one; the PostgreSQL outage leaves none (the delete
    # reaches S3).
    failed_in_s3_outage = [o for o in failed_uploads if o.finished >= s3_down and o.started <= s3_back]
    assert unexplained_strays(audit, len(failed_in_s3_outage)) == []
    # The sweep (grace 0: the load has stopped) deletes exactly those.
    assert audit.swept == len(audit.objects_without_rows)
