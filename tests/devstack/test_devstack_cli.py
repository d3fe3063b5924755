"""The `snappy` command: usage errors and failures are one line, never a traceback."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.devstack.fake_snappy import FakeSnappy

_TIMEOUT_SECONDS = 60


def _run(command: list[str], *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *arguments],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that something is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_up_on_a_port_in_use_fails_with_one_line(
    snappy_command: list[str], busy_port: int, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    result = _run(
        snappy_command,
        "up", "--stack", "monolith", "--port", str(busy_port), "--state-dir", str(state_dir),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"port {busy_port}" in result.stderr
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not state_dir.exists()  # nothing was started


@pytest.mark.parametrize("stack", ["microservices", "both"])
def test_up_checks_every_port_it_needs_before_starting(
    snappy_command: list[str], stack: str, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        busy_port = _listen_after_a_free_port(listener)
        port = busy_port if stack == "microservices" else busy_port - 1
        result = _run(
            snappy_command,
            "up", "--stack", stack, "--port", str(port), "--state-dir", str(state_dir),
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"port {busy_port} on 127.0.0.1 (for the microservices stack) is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not state_dir.exists()


def test_up_both_on_the_last_port_is_a_usage_error(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, "up", "--stack", "both", "--port", "65535", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "would need port 65536" in result.stderr


def _listen_after_a_free_port(listener: socket.socket) -> int:
    """Make `listener` listen on a loopback port whose predecessor is free; return that port."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            free = int(probe.getsockname()[1])
        if free >= 65535:
            continue
        try:
            listener.bind(("127.0.0.1", free + 1))
        except OSError:
            continue
        listener.listen()
        return free + 1
    pytest.fail("found no free port followed by a bindable one")


def test_up_with_an_unknown_stack_is_a_usage_error(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, "up", "--stack", "bogus", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: snappy up" in result.stderr
    assert "invalid choice: 'bogus'" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_with_a_bad_port_is_a_usage_error(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, "up", "--port", "70000", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a port number" in result.stderr


def test_no_command_is_a_usage_error(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: snappy" in result.stderr


def test_seed_against_a_closed_port_fails_with_one_line(
    snappy_command: list[str], closed_port: int, tmp_path: Path
) -> None:
    result = _run(snappy_command, "seed", "--url", f"http://127.0.0.1:{closed_port}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("snappy seed: cannot reach Snappy at http://127.0.0.1:")
    assert "Traceback" not in result.stderr + result.stdout


def test_seed_with_a_url_that_is_not_http_fails_with_one_line(
    snappy_command: list[str], tmp_path: Path
) -> None:
    result = _run(snappy_command, "seed", "--url", "ftp://127.0.0.1", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "http://" in result.stderr


def test_seed_loads_demo_data_and_prints_the_credentials(
    snappy_command: list[str], fake_snappy: FakeSnappy, tmp_path: Path
) -> None:
    arguments = ("seed", "--url", fake_snappy.base_url, "--users", "2", "--photos-per-user", "2")
    result = _run(snappy_command, *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Sample users: alice, bob (password: snappy-demo-password)" in result.stdout
    assert sorted(fake_snappy.passwords) == ["alice", "bob"]
    assert len(fake_snappy.photos) == 4


def test_migrate_help_is_the_migration_tools(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, "migrate", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: snappy migrate")
    for command in ("plan", "backfill", "sync", "verify", "status", "run"):
        assert command in result.stdout


def test_snappy_help_lists_migrate_and_rehearse(snappy_command: list[str], tmp_path: Path) -> None:
    result = _run(snappy_command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "migrate" in result.stdout
    assert "rehearse" in result.stdout


def test_migrate_without_a_running_stack_says_how_to_start_one(
    snappy_command: list[str], tmp_path: Path
) -> None:
    result = _run(snappy_command, "migrate", "status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("snappy migrate status: no local stack is running")
    assert str(tmp_path / ".snappy" / "stack.json") in result.stderr
    assert "`./snappy up --stack both`" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_rehearse_on_a_port_in_use_fails_with_one_line(
    snappy_command: list[str], busy_port: int, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    result = _run(
        snappy_command, "rehearse", "--port", str(busy_port), "--state-dir", str(state_dir), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"snappy rehearse: port {busy_port} on 127.0.0.1 (for the monolith stack)" in result.stderr
    assert not state_dir.exists()  # nothing was started, nothing was reset
