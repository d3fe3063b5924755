"""A deployable under gunicorn, started as its image starts it, on a loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from snappy_devstack.processes import LOOPBACK, free_ports, log_tail, stop_process, wait_until
from snappy_topology import PARTS

__all__ = [
    "STOP_GRACE_SECONDS",
    "launch_gunicorn",
    "spawn_gunicorn",
    "spawn_monolith",
    "stopped_on_exit",
    "wait_until_ready",
]

# How long a server may take to stop after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 30


def launch_gunicorn(
    package: str, environment: dict[str, str], port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start the part of `package` as its image starts it (gunicorn, or its own command) on `port`.

    It logs to `log_path` and is not waited for.
    """
    [command] = [each.start for each in PARTS.values() if each.package == package]
    program = (
        sys.executable if command.program == "python" else str(Path(sys.executable).parent / command.program)
    )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [program, *command.arguments],
            # Unbuffered: master and workers share the log file, and each record must be
            # one write, or lines from two processes interleave mid-line.
            env={**environment, "SNAPPY_BIND": f"{LOOPBACK}:{port}", "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def spawn_gunicorn(
    package: str, environment: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `package` under gunicorn on a free port; returns the process and its base URL once ready."""
    [port] = free_ports(1)
    process = launch_gunicorn(package, environment, port, log_path)
    base_url = f"http://{LOOPBACK}:{port}"
    wait_until_ready(base_url, process, log_path)
    return process, base_url


def spawn_monolith(environment: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the monolith under gunicorn."""
    return spawn_gunicorn("snappy_monolith", environment, log_path)


def wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    """Poll /readyz until it answers 200; fail with the end of the server's log otherwise."""

    def ready() -> bool:
        try:
            return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if wait_until(ready, timeout=timeout, interval=0.2, abort=lambda: process.poll() is not None):
        return
    if process.poll() is not None:
        pytest.fail(f"{base_url} exited with {process.returncode}:\n{log_tail(log_path, 60)}")
    pytest.fail(f"{base_url} was not ready within {timeout} s:\n{log_tail(log_path, 60)}")


@contextmanager
def stopped_on_exit() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to add each started server to; on exit each is stopped, the last started first."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        yield processes
    finally:
        for process in reversed(processes):
            stop_process(process, grace_seconds=STOP_GRACE_SECONDS)
