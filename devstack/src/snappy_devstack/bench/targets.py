"""The two stacks a benchmark compares: from `snappy up --stack both`, or from URLs given.

A target must answer `GET /healthz` before anything is sent to it; otherwise the
benchmark stops at once with a one-line message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.local_stack import read_local_stack
from snappy_migration.errors import MigrationError

__all__ = [
    "MICROSERVICES",
    "MONOLITH",
    "VERSIONS",
    "BenchUsageError",
    "Target",
    "Targets",
    "check_answers",
    "targets_from_stack_file",
    "targets_from_urls",
]

MONOLITH = "monolith"
MICROSERVICES = "microservices"
# In this order in every step, table and chart: the monolith is the baseline.
VERSIONS = (MONOLITH, MICROSERVICES)
_HEALTH_TIMEOUT_SECONDS = 5.0


class BenchUsageError(DevstackError):
    """The benchmark cannot start: no targets, or one that does not answer (exit status 2)."""


@dataclass(frozen=True)
class Target:
    """One version of Snappy and the base URL it answers at."""

    version: str
    url: str


@dataclass(frozen=True)
class Targets:
    """Both versions, and what is known of how they serve."""

    monolith: Target
    microservices: Target
    # Where the targets came from: a stack.json path, or the command line.
    source: str
    # Gunicorn worker processes of the monolith and of each service, when known.
    workers: int | None = None

    @property
    def both(self) -> tuple[Target, Target]:
        """The monolith, then the microservices."""
        return (self.monolith, self.microservices)


def targets_from_urls(monolith_url: str, microservices_url: str) -> Targets:
    """Targets given on the command line (deployed stacks, say): their worker counts are not known."""
    return Targets(
        monolith=Target(MONOLITH, _base(monolith_url)),
        microservices=Target(MICROSERVICES, _base(microservices_url)),
        source="command line",
    )


def targets_from_stack_file(path: Path) -> Targets:
    """The stacks `snappy up --stack both` describes at `path` while it runs."""
    if not path.is_file():
        raise BenchUsageError(
            f"no local stack is running ({path} not found): start one with `./snappy up --stack both`,"
            " or pass --monolith-url and --microservices-url"
        )
    try:
        described = read_local_stack(path)
    except MigrationError as error:
        raise BenchUsageError(str(error)) from None
    if described.monolith_url is None or described.microservices_url is None:
        raise BenchUsageError(
            f"{path} names no URL for the monolith or the microservices; restart `snappy up --stack both`"
        )
    return Targets(
        monolith=Target(MONOLITH, _base(described.monolith_url)),
        microservices=Target(MICROSERVICES, _base(described.microservices_url)),
        source=str(path),
        workers=described.workers,
    )


def check_answers(target: Target, *, timeout_seconds: float = _HEALTH_TIMEOUT_SECONDS) -> None:
    """Raise BenchUsageError unless `target` answers `GET /healthz` with 200."""
    try:
        response = httpx.get(f"{target.url}/healthz", timeout=timeout_seconds)
    except httpx.HTTPError as error:
        raise BenchUsageError(
            f"the {target.version} at {target.url} does not answer GET /healthz: {one_line(error)}"
        ) from None
    if response.status_code != 200:
        raise BenchUsageError(
            f"the {target.version} at {target.url} answered GET /healthz with {response.status_code}, not 200"
        )


def _base(url: str) -> str:
    return url.rstrip("/")
