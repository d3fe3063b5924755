"""What web-ui's resilience tests share: services under gunicorn on a fixed port.

A test can stop such a service and start it again where web-ui expects it. The fresh
in-process web-ui in front of the live services is the `web_ui` fixture of tests/conftest.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from snappy_devstack.processes import stop_process
from tests.support.gunicorn import launch_gunicorn, wait_until_ready

__all__ = ["ServiceProcess"]


class ServiceProcess:
    """A service under gunicorn on a fixed port, which a test can stop and start again."""

    def __init__(self, package: str, environment: dict[str, str], port: int, log_path: Path) -> None:
        self.package = package
        self.environment = environment
        self.base_url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start gunicorn and wait until the service is ready."""
        self.process = launch_gunicorn(
            self.package, {**self.environment, "SNAPPY_GRACEFUL_TIMEOUT": "5"}, self.port, self.log_path
        )
        wait_until_ready(self.base_url, self.process, self.log_path)

    def stop(self) -> None:
        """SIGTERM, and wait until the process has exited."""
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, grace_seconds=30)
        self.process = None


@pytest.fixture
def service_processes() -> Iterator[list[ServiceProcess]]:
    """Service processes a test starts; whatever still runs is stopped afterwards."""
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop()
