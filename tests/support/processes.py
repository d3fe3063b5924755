"""Gunicorn's worker processes, found from the master's pid through /proc."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["wait_for_workers", "worker_pids"]


def worker_pids(master_pid: int) -> set[int]:
    """The pids of the master's live children (its workers)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{master_pid}/task").glob("*"):
        try:
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {pid for pid in pids if _is_alive(pid)}


def wait_for_workers(
    master_pid: int, count: int, *, excluding: set[int] | None = None, timeout: float = 30
) -> set[int]:
    """Wait until the master has `count` live workers none of which is in `excluding`; return them."""
    excluding = excluding or set()
    deadline = time.monotonic() + timeout
    while True:
        workers = worker_pids(master_pid) - excluding
        if len(workers) >= count or time.monotonic() > deadline:
            return workers
        time.sleep(0.05)


def _is_alive(pid: int) -> bool:
    # A killed child is a zombie until the master reaps it: present in /proc, but dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}
