"""The progress line of long work: done, total, and rows per second, on standard error."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "ProgressFactory"]

_BAR_WIDTH = 24
# Without a terminal (CI logs, pipes), a line at most this often instead of a redrawn bar.
_PLAIN_INTERVAL_SECONDS = 5.0
_TERMINAL_INTERVAL_SECONDS = 0.1


class Progress:
    """One piece of work counted in `unit`s: a bar redrawn in place on a terminal, lines otherwise."""

    def __init__(self, label: str, total: int, unit: str = "rows", stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interactive = self._stream.isatty()
        self._started = time.monotonic()
        # A log gets its first line after an interval, so short work prints only its final line.
        self._last_shown = 0.0 if self._interactive else self._started

    @property
    def rate(self) -> float:
        """Units per second since the start."""
        elapsed = time.monotonic() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def add(self, count: int) -> None:
        """Count `count` more units done, and redraw when it is time."""
        self.done += count
        now = time.monotonic()
        interval = _TERMINAL_INTERVAL_SECONDS if self._interactive else _PLAIN_INTERVAL_SECONDS
        if now - self._last_shown >= interval:
            self._last_shown = now
            self._show(end="\r" if self._interactive else "\n")

    def finish(self) -> None:
        """Print the final figures on a line of their own."""
        elapsed = time.monotonic() - self._started
        self._show(end="\n", elapsed=elapsed)

    def _show(self, *, end: str, elapsed: float | None = None) -> None:
        total = max(self.total, self.done)
        fraction = self.done / total if total else 1.0
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        figures = f"{self.done:,}/{total:,} {self.unit} {self.rate:,.0f} {self.unit}/s"
        if elapsed is not None:
            figures += f" in {elapsed:.1f}s"
        self._stream.write(
            f"{self.label:<14} [{bar}] {figures}\x1b[K{end}"
            if self._interactive
            else f"{self.label}: {figures}{end}"
        )
        self._stream.flush()


# Makes the progress of one piece of work from its label, its total and its unit.
ProgressFactory = Callable[[str, int, str], Progress]
