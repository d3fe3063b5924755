"""Shared pieces of the dependency-fault tests: proxies in front of PostgreSQL and S3.

The monolith and photo-service run in process, with PostgreSQL and S3 reached through
`FaultProxy`s, so the shared servers keep running while a test takes one away. The
timeouts are short, and the request budget they add up to is the elapsed-time sanity
bound; what the tests assert is the status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from snappy_devstack.backing import BackingServices
from tests.support.faults import FaultProxy

__all__ = [
    "BUDGET_SECONDS",
    "FAST_DATABASE",
    "FAST_S3",
    "Faults",
    "assert_unavailable",
    "fault_proxies",
    "proxied_settings",
    "through",
    "timed",
]

PROBLEMS = "https://snappy.example/problems/"
# Short limits, so a stalled dependency costs seconds: the worst PostgreSQL call is
# 1 + 1.5 + 2 + 1.5 = 6 s, the worst S3 call 2 * (0.5 + 1) + 1 = 4 s.
FAST_DATABASE: dict[str, Any] = {
    "pool_timeout_seconds": 1.0,
    "connect_timeout_seconds": 2,
    "lock_timeout_seconds": 0.5,
    "statement_timeout_seconds": 1.0,
    "answer_timeout_seconds": 1.5,
}
FAST_S3: dict[str, Any] = {"connect_timeout_seconds": 0.5, "read_timeout_seconds": 1.0, "max_attempts": 2}
# Above each of those, and above photo-service's default user-service lookup (8.01 s).
BUDGET_SECONDS = 9.0


@dataclass
class Faults:
    """The proxies in front of PostgreSQL and S3."""

    database: FaultProxy
    s3: FaultProxy


@contextmanager
def fault_proxies(backing: BackingServices) -> Iterator[Faults]:
    """A proxy for PostgreSQL and one for S3, both passing."""
    database_url = make_url(backing.postgres_url)
    s3_endpoint = urlsplit(backing.s3.endpoint_url)
    with (
        FaultProxy((database_url.host or "127.0.0.1", database_url.port or 5432)) as database,
        FaultProxy((s3_endpoint.hostname or "127.0.0.1", s3_endpoint.port or 80)) as s3,
    ):
        yield Faults(database=database, s3=s3)


def through(database_url: str, proxy: FaultProxy) -> str:
    return make_url(database_url).set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)


def proxied_settings(
    faults: Faults, *, database_url: str, s3: Any, timeouts: Callable[..., Any]
) -> dict[str, Any]:
    """Settings that send a deployable's PostgreSQL and S3 calls through the proxies, under the short
    limits, for `dataclasses.replace` on its settings; `timeouts` is its DatabaseTimeouts class."""
    return {
        "database_url": through(database_url, faults.database),
        "s3": replace(s3, endpoint_url=f"http://{faults.s3.host}:{faults.s3.port}", **FAST_S3),
        "database": timeouts(**FAST_DATABASE),
        "request_budget_seconds": BUDGET_SECONDS,
    }


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """The call's result and how long it took."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assert_unavailable(response: Any, elapsed: float) -> None:
    """503 service-unavailable with Retry-After, within the request budget."""
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["type"] == PROBLEMS + "service-unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < BUDGET_SECONDS, f"answered after {elapsed:.1f} s"
