"""The Chromium the browser tests drive: where it is, how it is launched, and when it must exist."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["CHROMIUM_ARGS", "find_chromium", "require_chromium"]

# The tests run as root (hence --no-sandbox) on machines that refuse outbound connections;
# the networking flags stop Chromium's own update, sync and telemetry traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The Chromium executable: $SNAPPY_CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    configured = os.environ.get("SNAPPY_CHROMIUM")
    if configured:
        return shutil.which(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable; skips the test without one, or fails when CI demands a browser."""
    executable = find_chromium()
    if executable is not None:
        return executable
    configured = os.environ.get("SNAPPY_CHROMIUM")
    reason = (
        f"SNAPPY_CHROMIUM={configured!r} is not an executable"
        if configured
        else "no Chromium found: install `chromium` or set SNAPPY_CHROMIUM to its path"
    )
    # CI sets this so that a runner without a browser is a failure, never a silent skip.
    if os.environ.get("SNAPPY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (SNAPPY_REQUIRE_BROWSER=1)")
    pytest.skip(reason)
