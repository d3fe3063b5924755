"""The strangler stack as `snappy up --stack strangler --phase N` runs it: one per phase, one at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from snappy_devstack.processes import free_ports
from tests.devstack.conftest import PROVIDER_VARIABLES

# Embedded PostgreSQL and S3, migrations, up to five servers and a backfill, on a shared machine.
_START_TIMEOUT_SECONDS = 240
STOP_TIMEOUT_SECONDS = 60
# Started afresh, one stack each: the phases whose start moves data in a way of its own
# (1: users to user-service; 2: photos too; 4: no monolith process). Phase 0 starts the
# stack of tests/strangler/test_cutover.py, which walks it through 1, 2 and 3 and back; a
# start at 3 moves the data as a start at 2 does, and only web-ui serves the pages more.
PHASES = (1, 2, 4)


@dataclass(frozen=True)
class StranglerStack:
    """A running `snappy up --stack strangler`: its phase, edge, state and what it printed."""

    phase: int
    edge_url: str
    workdir: Path
    state_dir: Path
    output_path: Path

    def output(self) -> str:
        """Everything the command printed so far."""
        return self.output_path.read_text(errors="replace")

    def description(self) -> dict[str, Any]:
        """The stack description `snappy up` wrote (stack.json)."""
        document: dict[str, Any] = json.loads((self.state_dir / "stack.json").read_text())
        return document

    def query(self, database: str, statement: str, *parameters: object) -> list[tuple[Any, ...]]:
        """Rows of `statement` in one of the stack's databases: monolith, user_service or photo_service."""
        url = self.description()[f"{database}_database_url"]
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement, parameters)
            return cursor.fetchall() if cursor.description is not None else []


@pytest.fixture(scope="module", params=PHASES, ids=[f"phase-{phase}" for phase in PHASES])
def strangler(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StranglerStack]:
    """`snappy up --stack strangler --phase N` with sample data, in a state folder of its own."""
    phase: int = request.param
    with running_strangler(phase, tmp_path_factory.mktemp(f"strangler-{phase}"), seed=True) as running:
        yield running


@contextmanager
def running_strangler(phase: int, workdir: Path, *, seed: bool) -> Iterator[StranglerStack]:
    """`snappy up --stack strangler --phase N` in `workdir` while the context lasts; it must come up."""
    process, running = start_strangler(phase, workdir, seed=seed)
    try:
        _wait_for_announcement(process, running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_strangler(
    phase: int, workdir: Path, *, seed: bool
) -> tuple[subprocess.Popen[bytes], StranglerStack]:
    """Start `snappy up --stack strangler --phase N`, state in `workdir/.snappy`, on embedded servers."""
    # `snappy migrate`, run in `workdir` (no repository above it), finds the stack in `.snappy`.
    state_dir = workdir / ".snappy"
    (port,) = free_ports(1)
    output_path = workdir / f"snappy-up-{phase}.out"
    command = [*snappy(), "up", "--stack", "strangler", "--phase", str(phase), "--port", str(port)]
    command += ["--state-dir", str(state_dir), *(["--seed"] if seed else [])]
    process = start_snappy(command, workdir, output_path)
    return process, StranglerStack(phase, f"http://127.0.0.1:{port}", workdir, state_dir, output_path)


def start_snappy(command: list[str], workdir: Path, output_path: Path) -> subprocess.Popen[bytes]:
    """Start a `snappy` command in `workdir` on embedded servers, its output going to `output_path`."""
    environment = {name: value for name, value in os.environ.items() if name not in PROVIDER_VARIABLES}
    # Embedded servers in the test's state folder: the fixed database and bucket names must not
    # touch those a developer's own stack keeps on a shared server.
    environment["SNAPPY_DEV_PROVIDER"] = "embedded"
    with output_path.open("wb") as output:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=workdir,
        )


def snappy() -> list[str]:
    """The argv prefix that runs the installed `snappy` console script."""
    script = Path(sys.executable).parent / "snappy"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "snappy_devstack.cli"]


def _wait_for_announcement(process: subprocess.Popen[bytes], running: StranglerStack) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while "Press Ctrl-C to stop." not in running.output():
        if process.poll() is not None:
            pytest.fail(f"snappy up exited with {process.returncode}:\n{running.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"snappy up was not up within {_START_TIMEOUT_SECONDS} s:\n{running.output()}")
        time.sleep(0.25)
