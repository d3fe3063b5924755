"""The `snappy` developer command: `up` runs Snappy stacks locally, `seed` loads demo data into one."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from snappy_devstack.backing import provide_backing_services
from snappy_devstack.errors import DevstackError
from snappy_devstack.processes import LOOPBACK, log_tail, port_is_free
from snappy_devstack.seed import SeedSummary, seed
from snappy_devstack.stack import (
    STACKS,
    ServerFailed,
    Stack,
    check_installed,
    default_state_dir,
    ensure_secrets,
    plan_stacks,
    running_stacks,
    watch,
)

__all__ = ["main"]

_LOG_LINES_ON_FAILURE = 20
_EXIT_USAGE = 2


class _StopRequested(BaseException):
    """Ctrl-C or SIGTERM arrived: unwind, stopping everything that was started."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `snappy` command with `argv` (the process arguments by default)."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            return _up(arguments)
        return _seed(arguments)
    except DevstackError as error:
        _fail(f"{arguments.command}: {error}")
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snappy", description="Run Snappy locally and load demo data into it."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run a stack with its backing services until Ctrl-C",
        description="Start PostgreSQL and S3, migrate, and serve a Snappy stack on 127.0.0.1.",
    )
    up.add_argument(
        "--stack",
        choices=STACKS,
        default=STACKS[0],
        help="which stack to run; both: the monolith at --port and the microservices at the next port",
    )
    up.add_argument("--port", type=_port, default=8000, help="HTTP port (default: 8000)")
    up.add_argument("--seed", action="store_true", help="load demo users and photos into each stack once up")
    up.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where data, keys and logs live (default: .snappy in the repository root)",
    )

    seed_command = commands.add_parser(
        "seed",
        help="load demo users and photos through the public API",
        description="Sign up demo users, upload generated photos and share some of them.",
    )
    seed_command.add_argument(
        "--url", default="http://127.0.0.1:8000", help="Snappy's base URL (default: %(default)s)"
    )
    seed_command.add_argument(
        "--users", type=_positive, default=3, metavar="N", help="demo users (default: 3)"
    )
    seed_command.add_argument(
        "--photos-per-user",
        type=_non_negative,
        default=4,
        metavar="M",
        help="photos uploaded for each new user (default: 4)",
    )
    return parser


def _up(arguments: argparse.Namespace) -> int:
    stacks = plan_stacks(arguments.stack, arguments.port)
    for stack in stacks:
        port = stack.entry.port
        if port > 65535:
            _fail(f"up: the {stack.name} stack would need port {port}; choose a lower --port")
            return _EXIT_USAGE
        if not port_is_free(port):
            _fail(
                f"up: port {port} on {LOOPBACK} (for the {stack.name} stack) is already in use;"
                " choose another with --port"
            )
            return _EXIT_USAGE
    check_installed(stacks)
    state_dir: Path = (arguments.state_dir or default_state_dir(Path.cwd())).absolute()
    logs = state_dir / "logs"
    try:
        with _stop_on_signals():
            _say(f"Starting PostgreSQL and S3 (state in {state_dir})...")
            with provide_backing_services(state_dir, persistent=True) as services:
                _say(f"Backing services: {services.source}")
                with running_stacks(
                    stacks,
                    services=services,
                    stack_secrets=ensure_secrets(state_dir),
                    logs=logs,
                    base_environment=os.environ,
                    progress=_say,
                ) as running:
                    summaries = [_seed_stack(stack) if arguments.seed else None for stack in stacks]
                    _announce(stacks, summaries, logs)
                    watch(running)
    except ServerFailed as error:
        _show_log(error.log_path)
        raise
    except _StopRequested:
        _say("Stopped.")
    return 0


def _seed(arguments: argparse.Namespace) -> int:
    summary = seed(
        arguments.url,
        users=arguments.users,
        photos_per_user=arguments.photos_per_user,
        progress=_say,
    )
    _say(
        f"Seeded {arguments.url}: {summary.users_created} new users, "
        f"{summary.photos_uploaded} photos, {summary.shares_created} shares"
    )
    _say(_credentials(summary))
    return 0


def _seed_stack(stack: Stack) -> SeedSummary:
    _say(f"Seeding the {stack.name} stack at {stack.entry.url}...")
    return seed(stack.entry.url, progress=_say)


def _announce(stacks: list[Stack], summaries: list[SeedSummary | None], logs: Path) -> None:
    for stack, summary in zip(stacks, summaries, strict=True):
        _say(f"Snappy ({stack.name}) is up at {stack.entry.url}")
        behind = stack.servers[:-1]
        if behind:
            _say("  behind it: " + ", ".join(f"{server.name} at {server.url}" for server in behind))
        if stack.note:
            _say(f"  {stack.note}")
        if summary is not None:
            _say(f"  {_credentials(summary)}")
    _say(f"Logs: {logs}. Press Ctrl-C to stop.")


def _credentials(summary: SeedSummary) -> str:
    return f"Sample users: {', '.join(summary.usernames)} (password: {summary.password})"


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn the first Ctrl-C or SIGTERM into _StopRequested; ignore repeats while stopping."""
    stopping = False

    def request_stop(_signal_number: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping...", file=sys.stderr, flush=True)
        raise _StopRequested

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _show_log(path: Path) -> None:
    tail = log_tail(path, _LOG_LINES_ON_FAILURE)
    if tail:
        print(f"--- last lines of {path} ---\n{tail}\n---", file=sys.stderr, flush=True)


def _say(message: str) -> None:
    print(message, flush=True)


def _fail(message: str) -> None:
    print(f"snappy {' '.join(message.split())}", file=sys.stderr, flush=True)


def _port(text: str) -> int:
    port = _integer(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def _positive(text: str) -> int:
    number = _integer(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return number


def _non_negative(text: str) -> int:
    number = _integer(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


if __name__ == "__main__":
    sys.exit(main())
