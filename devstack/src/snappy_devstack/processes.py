"""Child processes and loopback ports: starting, waiting for, stopping, and reading logs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "cleanup_that_survives_interrupts",
    "free_ports",
    "log_tail",
    "port_is_free",
    "stop_process",
    "terminate_stale_process",
    "wait_until",
]

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on `host:port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR too, so a port held only by TIME_WAIT leftovers counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports that are free on `host` (held open together while choosing)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((host, 0))
            ports.append(int(probe.getsockname()[1]))
        return ports


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    abort: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll `condition` until it holds (True), `abort` holds or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if abort() or time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_process(
    process: subprocess.Popen[bytes],
    *,
    grace_seconds: float,
    stop_signal: int = signal.SIGTERM,
    whole_group: bool = False,
) -> None:
    """Send `stop_signal`, wait up to `grace_seconds`, then kill (the group too if asked)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(stop_signal)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=10)
        return
    if whole_group:
        # Workers that outlived their master would keep ports and files busy.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def terminate_stale_process(
    pid: int, *, marker: str, stop_signal: int = signal.SIGTERM, grace_seconds: float = 10.0
) -> bool:
    """Stop process `pid` if it runs and its command line mentions `marker`; True if it did."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    if marker not in command_line:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, stop_signal)
        if not wait_until(lambda: not _process_exists(pid), timeout=grace_seconds):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not _process_exists(pid), timeout=5.0)
    return True


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of the log at `path` (empty when it cannot be read)."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _process_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    # A zombie has exited; only its parent's wait is missing.
    return state != "Z"


@contextlib.contextmanager
def cleanup_that_survives_interrupts() -> Iterator[contextlib.ExitStack]:
    """An ExitStack to register clean-ups on; SIGTERM interrupts like Ctrl-C meanwhile.

    While the context lasts, SIGINT and SIGTERM raise KeyboardInterrupt (SIGINT too where it
    was inherited as ignored), so a run stopped either way unwinds through its clean-ups. They
    run with both signals ignored: a second Ctrl-C must not leave servers running or stores
    half-dropped. The previous handlers come back afterwards.
    """
    previous_interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_terminate = signal.signal(signal.SIGTERM, signal.default_int_handler)
    cleanup = contextlib.ExitStack()
    try:
        yield cleanup
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            cleanup.close()
        finally:
            signal.signal(signal.SIGINT, previous_interrupt)
            signal.signal(signal.SIGTERM, previous_terminate)
