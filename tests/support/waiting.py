"""Waiting for a service to answer again, and measuring how long that took."""

from __future__ import annotations

import time

import httpx
import pytest

__all__ = ["RECOVERY_LIMIT_SECONDS", "seconds_until_ready"]

# Not a performance bound: how long to keep polling before calling the service dead.
RECOVERY_LIMIT_SECONDS = 30.0


def seconds_until_ready(url: str, *, since: float) -> float:
    """Poll `url` until it answers 200; the seconds from `since` (a monotonic time) to that answer."""
    deadline = since + RECOVERY_LIMIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - since
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer 200 within {RECOVERY_LIMIT_SECONDS} s")
