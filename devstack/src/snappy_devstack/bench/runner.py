"""One step of a benchmark: Locust, headless, in a process of its own, against one version.

Locust's gevent patches stay in that process. Its statistics come back as files in the
step's folder (`stats.json`, the `locust_*.csv` files), and everything it prints goes to
`locust.log` there, not to the terminal, which shows the benchmark's progress instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from snappy_devstack.bench.results import StepResult, read_step
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.processes import log_tail, stop_process

__all__ = ["LOCUSTFILE", "Progress", "Step", "StepFailed", "run_step"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Starting Locust, logging everyone in and writing its statistics take a few seconds a step.
STEP_OVERHEAD_SECONDS = 4
# How long past its run time a Locust process may take before it is stopped as hung.
_GRACE_SECONDS = 60.0
_POLL_SECONDS = 0.5
_STOP_GRACE_SECONDS = 10.0


class StepFailed(DevstackError):
    """Locust did not complete a step."""


@dataclass(frozen=True)
class Step:
    """One version at one concurrency, the `number`th of `total` steps."""

    number: int
    total: int
    version: str
    url: str
    concurrency: int

    @property
    def slug(self) -> str:
        """The step's folder name: order, version and concurrency."""
        return f"{self.number:02d}-{self.version}-c{self.concurrency}"


class Progress:
    """What the terminal shows while steps run.

    On a terminal, one line that updates every half second: the step, the version, the
    concurrency and the time left. Elsewhere (a log, a pipe), one line when each step
    starts and one when it ends.
    """

    def __init__(self, stream: TextIO, *, seconds_per_step: float) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._seconds_per_step = seconds_per_step

    def started(self, step: Step) -> None:
        """A step begins."""
        if not self._interactive:
            self._write(f"{self._label(step)}: {self._seconds_per_step:.0f} s...\n")

    def running(self, step: Step, seconds_left: float) -> None:
        """A step is under way, with about `seconds_left` to go."""
        if not self._interactive:
            return
        steps_after = step.total - step.number
        run_left = seconds_left + steps_after * (self._seconds_per_step + STEP_OVERHEAD_SECONDS)
        self._write(
            f"\r{self._label(step)}: {seconds_left:3.0f} s left"
            f" (whole run: about {_duration(run_left)} left)\033[K"
        )

    def finished(self, step: Step, result: StepResult) -> None:
        """A step ended with `result`."""
        total = result.all_requests
        line = (
            f"{self._label(step)}: {total.requests} requests, {total.requests_per_second:.1f}/s,"
            f" p50 {total.p50_ms} ms, p95 {total.p95_ms} ms, {total.failures} errors"
        )
        if result.generator_saturated:
            line += " (Locust's CPU was saturated)"
        # On a terminal the line replaces the one that counted down.
        self._write(f"\r{line}\033[K\n" if self._interactive else f"{line}\n")

    def _label(self, step: Step) -> str:
        return f"[{step.number}/{step.total}] {step.version} at concurrency {step.concurrency}"

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def run_step(
    step: Step,
    *,
    workload_file: Path,
    folder: Path,
    warmup_seconds: int,
    duration_seconds: int,
    progress: Progress,
) -> StepResult:
    """Run Locust for `step` and read back its figures; StepFailed if it does not complete."""
    folder.mkdir(parents=True, exist_ok=True)
    stats_file = folder / "stats.json"
    log_file = folder / "locust.log"
    run_seconds = warmup_seconds + duration_seconds
    command = [
        sys.executable, "-m", "locust",
        "--locustfile", str(LOCUSTFILE),
        "--headless",
        "--host", step.url,
        "--users", str(step.concurrency),
        "--spawn-rate", str(step.concurrency),
        "--run-time", f"{run_seconds}s",
        "--only-summary",
        "--json-file", str(stats_file.with_suffix("")),  # Locust adds .json
        "--csv", str(folder / "locust"),
        "--exit-code-on-error", "0",
        "--snappy-workload", str(workload_file),
        "--snappy-warmup", str(warmup_seconds),
    ]  # fmt: skip
    # Settings of Locust's own from the environment would change what is measured.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LOCUST_")}
    progress.started(step)
    started = time.monotonic()
    with log_file.open("ab") as log:
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
                command,
                cwd=folder,  # no locust.conf or pyproject.toml of the caller's is read
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches `snappy`, which stops it.
                start_new_session=True,
            )
        except OSError as error:
            raise StepFailed(f"cannot start Locust: {one_line(error)}") from error
    try:
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed > run_seconds + _GRACE_SECONDS:
                raise StepFailed(f"Locust did not finish {step.slug} in time; see {log_file}")
            progress.running(step, max(0.0, run_seconds - elapsed))
            time.sleep(_POLL_SECONDS)
    finally:
        stop_process(process, grace_seconds=_STOP_GRACE_SECONDS, whole_group=True)
    if process.returncode != 0:
        last = (log_tail(log_file, 1) or "no output").strip()
        raise StepFailed(
            f"Locust stopped with status {process.returncode} in {step.slug}: {last} (log: {log_file})"
        )
    result = read_step(
        step.version,
        step.concurrency,
        folder,
        stats_file=stats_file,
        failures_file=folder / "locust_failures.csv",
        log_file=log_file,
    )
    progress.finished(step, result)
    return result


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
