"""Fixtures for the developer tooling tests: backing services, a fake Snappy API, the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from snappy_devstack.backing import BackingServices, provide_backing_services
from tests.devstack.fake_snappy import FakeSnappy, running_fake_snappy

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PROVIDER_VARIABLES = (
    "SNAPPY_DEV_PROVIDER",
    "SNAPPY_DEV_POSTGRES_URL",
    "SNAPPY_DEV_S3_ENDPOINT_URL",
    "SNAPPY_DEV_S3_ACCESS_KEY_ID",
    "SNAPPY_DEV_S3_SECRET_ACCESS_KEY",
    "SNAPPY_DEV_S3_REGION",
)


def environment_postgres_url() -> str:
    """The PostgreSQL the tests take from the environment (the local server by default)."""
    return os.environ.get("SNAPPY_DEV_POSTGRES_URL") or LOCAL_POSTGRES_URL


@pytest.fixture
def no_provider_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A test environment without any SNAPPY_DEV_* provider setting."""
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def backing_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackingServices]:
    """PostgreSQL from the environment and S3 from embedded SeaweedFS, shared by the session."""
    state_dir = tmp_path_factory.mktemp("backing-state")
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as environment:
            for name in PROVIDER_VARIABLES:
                environment.delenv(name, raising=False)
            environment.setenv("SNAPPY_DEV_POSTGRES_URL", environment_postgres_url())
            # The provider reads the environment on entry only.
            services = stack.enter_context(provide_backing_services(state_dir, persistent=False))
        yield services


@pytest.fixture
def snappy_command() -> list[str]:
    """The argv prefix that runs the installed `snappy` console script."""
    script = Path(sys.executable).parent / "snappy"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "snappy_devstack.cli"]


@pytest.fixture
def fake_snappy() -> Iterator[FakeSnappy]:
    """A local HTTP server answering the calls `snappy seed` makes, like Snappy would."""
    with running_fake_snappy() as state:
        yield state
