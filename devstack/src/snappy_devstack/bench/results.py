"""A benchmark's figures: read from Locust's output, compared version to version, written and shown.

Percentiles come from Locust's response-time histogram (kept to the millisecond below
100 ms, to two significant digits above), computed as Locust computes them; requests per
second are each endpoint's requests over the step's measured window (from the statistics'
reset after the warm-up to the last request), as Locust's own "Requests/s" is.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snappy_devstack.bench.targets import MICROSERVICES, MONOLITH
from snappy_devstack.bench.workload import MIX
from snappy_devstack.errors import DevstackError

__all__ = [
    "ALL_REQUESTS",
    "REPORT_FORMAT",
    "Comparison",
    "ErrorCount",
    "Figures",
    "ResultsError",
    "StepResult",
    "compare",
    "read_step",
    "render_table",
    "report_document",
    "write_report",
]

ALL_REQUESTS = "all requests"
REPORT_FORMAT = "snappy-bench/1"
_PERCENTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}


class ResultsError(DevstackError):
    """Locust's output for a step is missing or unreadable."""


@dataclass(frozen=True)
class Figures:
    """What one endpoint (or all requests) did in one step."""

    requests: int
    failures: int
    p50_ms: int
    p95_ms: int
    p99_ms: int
    mean_ms: float
    requests_per_second: float


@dataclass(frozen=True)
class ErrorCount:
    """A kind of failure Locust recorded, and how often."""

    endpoint: str
    error: str
    occurrences: int


@dataclass(frozen=True)
class StepResult:
    """One version at one concurrency: figures per endpoint and for all requests."""

    version: str
    concurrency: int
    # From the statistics' reset after the warm-up to the last request.
    measured_seconds: float
    endpoints: dict[str, Figures]
    all_requests: Figures
    errors: tuple[ErrorCount, ...]
    # Locust warned that its own process used more than 90 % of a core: the load
    # generator, not the stack, may have set the pace.
    generator_saturated: bool
    folder: str


@dataclass(frozen=True)
class Comparison:
    """One endpoint (or all requests) at one concurrency on both versions, and their ratios."""

    concurrency: int
    endpoint: str
    monolith: Figures | None
    microservices: Figures | None
    # microservices / monolith; None when either side has no figure to divide.
    p50_ratio: float | None
    throughput_ratio: float | None


def read_step(
    version: str, concurrency: int, folder: Path, *, stats_file: Path, failures_file: Path, log_file: Path
) -> StepResult:
    """The figures of one step, from Locust's JSON statistics, failures CSV and log."""
    try:
        entries: list[dict[str, Any]] = json.loads(stats_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(
            f"Locust left no readable statistics in {stats_file} ({error}); see {log_file}"
        ) from error
    counted = [entry for entry in entries if int(entry["num_requests"]) > 0]
    if not counted:
        raise ResultsError(
            f"Locust recorded no request for the {version} at concurrency {concurrency}; see {log_file}"
        )
    window = max(float(entry["last_request_timestamp"]) for entry in counted) - min(
        float(entry["start_time"]) for entry in counted
    )
    window = max(window, 1e-3)
    by_name = {f"{entry['method']} {entry['name']}": entry for entry in counted}
    endpoints = {name: _figures([by_name[name]], window) for name in _in_mix_order(by_name)}
    return StepResult(
        version=version,
        concurrency=concurrency,
        measured_seconds=round(window, 3),
        endpoints=endpoints,
        all_requests=_figures(counted, window),
        errors=tuple(_errors(failures_file)),
        generator_saturated=_saturated(log_file),
        folder=str(folder),
    )


def compare(steps: Sequence[StepResult]) -> list[Comparison]:
    """Every endpoint at every concurrency, and all requests, side by side (concurrency, then mix order)."""
    by_key = {(step.version, step.concurrency): step for step in steps}
    comparisons = []
    for concurrency in sorted({step.concurrency for step in steps}):
        monolith = by_key.get((MONOLITH, concurrency))
        microservices = by_key.get((MICROSERVICES, concurrency))
        names = _in_mix_order(
            {name for step in (monolith, microservices) if step is not None for name in step.endpoints}
        )
        for name in [*names, ALL_REQUESTS]:
            before = _figures_of(monolith, name)
            after = _figures_of(microservices, name)
            comparisons.append(
                Comparison(
                    concurrency=concurrency,
                    endpoint=name,
                    monolith=before,
                    microservices=after,
                    p50_ratio=_ratio(after.p50_ms if after else None, before.p50_ms if before else None),
                    throughput_ratio=_ratio(
                        after.requests_per_second if after else None,
                        before.requests_per_second if before else None,
                    ),
                )
            )
    return comparisons


def report_document(
    *,
    settings: Mapping[str, Any],
    machine: Mapping[str, Any],
    workload: Mapping[str, Any],
    steps: Sequence[StepResult],
) -> dict[str, Any]:
    """The whole run as one JSON document: settings, machine, workload, every step and every comparison."""
    return {
        "format": REPORT_FORMAT,
        "settings": dict(settings),
        "machine": dict(machine),
        "workload": dict(workload),
        "steps": [asdict(step) for step in steps],
        "comparisons": [asdict(comparison) for comparison in compare(steps)],
    }


def write_report(path: Path, document: Mapping[str, Any]) -> None:
    """Write the report document to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def render_table(comparisons: Sequence[Comparison]) -> list[str]:
    """The comparisons as text: per concurrency, two rows per endpoint, ratios on the microservices' row."""
    width = max([len(ALL_REQUESTS), *(len(comparison.endpoint) for comparison in comparisons)])
    header = (
        f"{'endpoint':<{width}}  {'version':<13} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'req/s':>8} {'errors':>6}  {'p50 ratio':>9} {'req/s ratio':>11}"
    )
    lines: list[str] = []
    concurrency = None
    for comparison in comparisons:
        if comparison.concurrency != concurrency:
            concurrency = comparison.concurrency
            if lines:
                lines.append("")
            lines.extend([f"concurrency {concurrency}", header, "-" * len(header)])
        for version, figures in ((MONOLITH, comparison.monolith), (MICROSERVICES, comparison.microservices)):
            label = comparison.endpoint if version == MONOLITH else ""
            row = f"{label:<{width}}  {version:<13} " + _figure_cells(figures)
            if version == MICROSERVICES:
                latency, throughput = (
                    _ratio_cell(comparison.p50_ratio),
                    _ratio_cell(comparison.throughput_ratio),
                )
                row += f"  {latency:>9} {throughput:>11}"
            lines.append(row.rstrip())
    return lines


def _figures(entries: Iterable[Mapping[str, Any]], window: float) -> Figures:
    histogram: Counter[int] = Counter()
    requests = failures = 0
    total_ms = 0.0
    for entry in entries:
        requests += int(entry["num_requests"])
        failures += int(entry["num_failures"])
        total_ms += float(entry["total_response_time"])
        histogram.update({int(float(key)): int(count) for key, count in entry["response_times"].items()})
    timed = sum(histogram.values())
    percentiles = {name: _percentile(histogram, timed, fraction) for name, fraction in _PERCENTILES.items()}
    return Figures(
        requests=requests,
        failures=failures,
        mean_ms=round(total_ms / timed, 2) if timed else 0.0,
        requests_per_second=round(requests / window, 2),
        **percentiles,
    )


def _percentile(histogram: Mapping[int, int], count: int, fraction: float) -> int:
    """The response time `fraction` of the requests finished within, as Locust computes it."""
    within = int(count * fraction)
    processed = 0
    for response_time in sorted(histogram, reverse=True):
        processed += histogram[response_time]
        if count - processed <= within:
            return response_time
    return 0


def _errors(failures_file: Path) -> Iterable[ErrorCount]:
    if not failures_file.is_file():
        return
    with failures_file.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            yield ErrorCount(
                endpoint=f"{row['Method']} {row['Name']}",
                error=row["Error"],
                occurrences=int(row["Occurrences"]),
            )


def _saturated(log_file: Path) -> bool:
    try:
        return "CPU usage above" in log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _in_mix_order(names: Iterable[str]) -> list[str]:
    """The mix's endpoints first, in the mix's order; any other name after them, sorted."""
    known = [endpoint.name for endpoint in MIX]
    present = set(names)
    return [name for name in known if name in present] + sorted(present - set(known))


def _figures_of(step: StepResult | None, name: str) -> Figures | None:
    if step is None:
        return None
    return step.all_requests if name == ALL_REQUESTS else step.endpoints.get(name)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 3)


def _figure_cells(figures: Figures | None) -> str:
    if figures is None:
        return f"{'-':>7} {'-':>7} {'-':>7} {'-':>8} {'-':>6}"
    return (
        f"{figures.p50_ms:>7} {figures.p95_ms:>7} {figures.p99_ms:>7}"
        f" {figures.requests_per_second:>8.1f} {figures.failures:>6}"
    )


def _ratio_cell(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"
