"""`snappy shadow`: compare a route group's answers with a candidate part's, live, before its cutover.

- `start --group users|photos|pages --candidate PART` writes the edge's control file
  (`snappy_edge.control`): from the next request on, the edge sends a copy of each GET and
  HEAD of the group to the candidate and compares the answers (`snappy_edge.shadow`).
  A candidate that cannot serve the group is refused (exit status 2). The records of the
  previous run are kept beside, as `*.previous.jsonl`, so the report describes this one.
- `stop` clears the shadow and says where the records are.
- `report [--json]` sums the records up per route: requests compared, matches,
  mismatches, candidate errors, the 50th, 95th and 99th percentile latency of each side,
  and the drops the edge counted (from its /metrics, since it started). Exit status 1
  when there is any mismatch, so that a CI job can gate a cutover on it.

With no options they act on the edge of the stacks `snappy up --stack both` runs, which
`.snappy/stack.json` describes: its control file and records folder are in the state
folder, and its /metrics at the microservices' URL. `--control-file`, `--shadow-dir` and
`--metrics-url` name another edge's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from snappy_devstack.local_stack import LocalStack, running_local_stack
from snappy_devstack.stack import default_state_dir
from snappy_edge.control import ControlFileError, EdgeControl, Shadow, read_control, write_control
from snappy_edge.shadow import COMPARISONS_FILE, MISMATCHES_FILE, DropReason, Outcome
from snappy_migration.errors import MigrationError
from snappy_topology import PartName, RouteGroupName

__all__ = ["GROUPS", "SHADOW", "add_shadow_parser", "run_shadow", "shadow_report"]

SHADOW = "shadow"
# The route groups by the short names the command takes.
GROUPS: Mapping[str, RouteGroupName] = {
    "users": RouteGroupName.USERS,
    "photos": RouteGroupName.PHOTOS,
    "pages": RouteGroupName.PAGES,
}
_EXIT_MISMATCHES = 1
_EXIT_USAGE = 2
_PERCENTILES = (50, 95, 99)
_METRICS_TIMEOUT_SECONDS = 5.0
_DROPS_METRIC = "snappy_edge_shadow_dropped_total"
_ALL_ROUTES = "all routes"


class _Refused(Exception):
    """The command cannot act: one line says why (exit status 2)."""


def add_shadow_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `shadow start|stop|report` to the `snappy` command's subcommands."""
    shadow = commands.add_parser(
        SHADOW,
        help="send copies of a route group's reads to a candidate part and compare the answers",
        description=(
            "Shadow a route group before its cutover: the edge keeps answering every request from the part"
            " its phase routes it to, and also sends each GET and HEAD of the group to a candidate part,"
            " comparing the answers. With no options, the edge of `snappy up --stack both`."
        ),
    )
    actions = shadow.add_subparsers(dest="shadow_command", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start",
        help="start comparing a route group's reads with a candidate",
        description="Start comparing each GET and HEAD of a route group with a candidate part's answer.",
    )
    start.add_argument("--group", required=True, choices=sorted(GROUPS), help="the route group to shadow")
    start.add_argument(
        "--candidate",
        required=True,
        type=_part,
        metavar="PART",
        help=f"the part that answers the copies: one of {', '.join(PartName)}",
    )
    _add_edge_options(start)
    stop = actions.add_parser(
        "stop", help="stop shadowing", description="Stop shadowing; the records stay where they are."
    )
    _add_edge_options(stop)
    report = actions.add_parser(
        "report",
        help="sum up the comparisons per route; exit status 1 on any mismatch",
        description=(
            "Sum up the comparisons the edge recorded, per route: requests, matches, mismatches, candidate"
            " errors, latency percentiles of both sides and drops. The exit status is 1 when any answer"
            " differed."
        ),
    )
    report.add_argument("--json", action="store_true", help="print the report as one JSON document")
    _add_edge_options(report)
    report.add_argument(
        "--metrics-url",
        default=None,
        metavar="URL",
        help="the edge's /metrics, read for the drops (default: the local stack's edge)",
    )


def _add_edge_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--control-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="the edge's control file (SNAPPY_EDGE_CONTROL_FILE; default: the local stack's)",
    )
    parser.add_argument(
        "--shadow-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the edge records comparisons (SNAPPY_EDGE_SHADOW_DIR; default: the local stack's)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the state folder of `snappy up` (default: .snappy in the repository root)",
    )


def _part(text: str) -> PartName:
    try:
        return PartName(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a part; parts are {', '.join(PartName)}") from None


def run_shadow(arguments: argparse.Namespace) -> int:
    """Run `snappy shadow <action>`; the exit status."""
    action: str = arguments.shadow_command
    try:
        if action == "start":
            return _start(arguments)
        if action == "stop":
            return _stop(arguments)
        return _report(arguments)
    except _Refused as error:
        print(f"snappy shadow {action}: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return _EXIT_USAGE


# --- which edge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    """Where an edge's shadow state lives."""

    control_file: Path | None
    shadow_dir: Path | None
    metrics_url: str | None


def _edge(arguments: argparse.Namespace, *, needs: str) -> _Edge:
    """The edge the options name, completed from the local stack's description; `needs` must be known."""
    control_file: Path | None = arguments.control_file
    shadow_dir: Path | None = arguments.shadow_dir
    metrics_url: str | None = getattr(arguments, "metrics_url", None)
    given = {"control_file": control_file, "shadow_dir": shadow_dir}
    if given[needs] is None:
        local = _local_stack(arguments)
        if control_file is None and local.edge_control_file:
            control_file = Path(local.edge_control_file)
        if shadow_dir is None and local.shadow_dir:
            shadow_dir = Path(local.shadow_dir)
        # The strangler's edge answers at its own URL; the side-by-side stacks' at the microservices'.
        edge_url = local.strangler_url or local.microservices_url
        if metrics_url is None and edge_url:
            metrics_url = f"{edge_url.rstrip('/')}/metrics"
    edge = _Edge(control_file, shadow_dir, metrics_url)
    if getattr(edge, needs) is None:
        option = "--control-file" if needs == "control_file" else "--shadow-dir"
        raise _Refused(
            f"the local stack's description names no edge {needs.replace('_', ' ')}: restart"
            f" `./snappy up --stack both`, or give {option}"
        )
    return edge


def _local_stack(arguments: argparse.Namespace) -> LocalStack:
    try:
        return running_local_stack(
            arguments.state_dir or default_state_dir(Path.cwd()),
            how_to_start="start one with `./snappy up --stack both`, or name the edge's files with"
            " --control-file and --shadow-dir",
        )
    except MigrationError as error:
        raise _Refused(str(error)) from None


# --- start and stop ---------------------------------------------------------------------------


def _start(arguments: argparse.Namespace) -> int:
    group = GROUPS[arguments.group]
    try:
        shadow = Shadow(group, arguments.candidate)
    except ControlFileError as error:
        raise _Refused(str(error)) from None
    edge = _edge(arguments, needs="control_file")
    assert edge.control_file is not None
    kept = _keep_previous_records(edge.shadow_dir) if edge.shadow_dir is not None else []
    # The rest of the live state (the phase, `snappy phase set`) stays as it is.
    write_control(edge.control_file, replace(_current_control(edge.control_file), shadow=shadow))
    _say(
        f"Shadowing {group}: each GET and HEAD is answered as before, and also sent to"
        f" {shadow.candidate} and compared (unless {shadow.candidate} already serves it)."
    )
    _say(f"  control file: {edge.control_file}")
    if edge.shadow_dir is not None:
        _say(f"  records:      {edge.shadow_dir / COMPARISONS_FILE}, {edge.shadow_dir / MISMATCHES_FILE}")
    for previous in kept:
        _say(f"  the previous run's records: {previous}")
    _say("Read the results with `snappy shadow report`; stop with `snappy shadow stop`.")
    return 0


def _current_control(control_file: Path) -> EdgeControl:
    """The live state as the file says; an unusable file is refused rather than overwritten."""
    try:
        return read_control(control_file)
    except ControlFileError as error:
        raise _Refused(f"the control file is unusable, fix it first: {error}") from None


def _keep_previous_records(shadow_dir: Path) -> list[Path]:
    """Move the last run's records aside, so that the report describes the run that starts."""
    kept: list[Path] = []
    for name in (COMPARISONS_FILE, MISMATCHES_FILE):
        current = shadow_dir / name
        if current.exists():
            previous = current.with_suffix(".previous.jsonl")
            current.replace(previous)
            kept.append(previous)
    return kept


def _stop(arguments: argparse.Namespace) -> int:
    edge = _edge(arguments, needs="control_file")
    assert edge.control_file is not None
    current = _current_control(edge.control_file)
    was = current.shadow
    write_control(edge.control_file, replace(current, shadow=None))
    if was is None:
        _say(f"Nothing is shadowed now (control file: {edge.control_file}).")
    else:
        _say(f"Stopped shadowing {was.group} with {was.candidate} (control file: {edge.control_file}).")
    if edge.shadow_dir is not None:
        _say(f"The records stay in {edge.shadow_dir}: {COMPARISONS_FILE}, {MISMATCHES_FILE}")
        _say("  (`snappy shadow report` sums them up).")
    return 0


# --- report ---------------------------------------------------------------------------------


@dataclass
class RouteFigures:
    """What the records say about one route (or all of them)."""

    route: str
    requests: int = 0
    matches: int = 0
    mismatches: int = 0
    candidate_errors: int = 0
    # Milliseconds, at the 50th, 95th and 99th percentile; None without a measure.
    primary_ms: list[float] | None = None
    candidate_ms: list[float] | None = None
    # None when the edge's /metrics could not be read.
    drops: int | None = None


@dataclass
class ShadowReport:
    """The records of one edge, summed up."""

    shadow: dict[str, str] | None
    control_error: str | None
    comparisons_file: str
    mismatches_file: str
    routes: list[RouteFigures]
    total: RouteFigures
    unreadable_lines: int
    metrics_url: str | None
    drops_by_reason: dict[str, int] | None
    drops_error: str | None = None
    first: str | None = None
    last: str | None = None
    notes: list[str] = field(default_factory=list)


def shadow_report(
    shadow_dir: Path, *, control_file: Path | None = None, metrics_url: str | None = None
) -> ShadowReport:
    """The records in `shadow_dir` summed up, with the live state and the drops the edge counted."""
    records, unreadable = _records(shadow_dir / COMPARISONS_FILE)
    drops, drops_error = _drops(metrics_url)
    by_route: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_route[str(record.get("route"))].append(record)
    routes = sorted(set(by_route) | set(drops or {}))
    shadow, control_error = _live_state(control_file)
    return ShadowReport(
        shadow=shadow,
        control_error=control_error,
        comparisons_file=str(shadow_dir / COMPARISONS_FILE),
        mismatches_file=str(shadow_dir / MISMATCHES_FILE),
        routes=[
            _figures(route, by_route[route], None if drops is None else sum(drops.get(route, {}).values()))
            for route in routes
        ],
        total=_figures(_ALL_ROUTES, records, None if drops is None else _sum_drops(drops)),
        unreadable_lines=unreadable,
        metrics_url=metrics_url,
        drops_by_reason=None if drops is None else dict(sum((Counter(d) for d in drops.values()), Counter())),
        drops_error=drops_error,
        first=min((str(record.get("time")) for record in records), default=None),
        last=max((str(record.get("time")) for record in records), default=None),
    )


def _report(arguments: argparse.Namespace) -> int:
    edge = _edge(arguments, needs="shadow_dir")
    assert edge.shadow_dir is not None
    report = shadow_report(edge.shadow_dir, control_file=edge.control_file, metrics_url=edge.metrics_url)
    if arguments.json:
        print(json.dumps(asdict(report), indent=2), flush=True)
    else:
        for line in render_report(report):
            _say(line)
    return _EXIT_MISMATCHES if report.total.mismatches else 0


def render_report(report: ShadowReport) -> list[str]:
    """The report as a person reads it."""
    lines: list[str] = []
    if report.shadow is not None:
        lines.append(f"Shadowing {report.shadow['group']} with {report.shadow['candidate']} now.")
    elif report.control_error is not None:
        lines.append(f"The control file cannot be read: {report.control_error}")
    else:
        lines.append("Nothing is shadowed now.")
    if not report.total.requests:
        lines.append(f"No comparison recorded in {report.comparisons_file}.")
    else:
        lines.append(
            f"{report.total.requests} comparisons in {report.comparisons_file},"
            f" {report.first} to {report.last}."
        )
    if report.unreadable_lines:
        lines.append(f"{report.unreadable_lines} unreadable line(s) skipped.")
    lines.append("")
    header = (
        f"{'route':<40} {'requests':>8} {'match':>6} {'mismatch':>8} {'cand.err':>8}"
        f"  {'primary ms p50/p95/p99':>24}  {'candidate ms p50/p95/p99':>24} {'drops':>6}"
    )
    lines.append(header)
    for figures in [*report.routes, report.total]:
        lines.append(
            f"{figures.route:<40} {figures.requests:>8} {figures.matches:>6} {figures.mismatches:>8}"
            f" {figures.candidate_errors:>8}  {_latencies(figures.primary_ms):>24}"
            f"  {_latencies(figures.candidate_ms):>24} {_count(figures.drops):>6}"
        )
    lines.append("")
    if report.drops_by_reason is None:
        lines.append(f"Drops: unknown ({report.drops_error}).")
    else:
        reasons = ", ".join(
            f"{reason.value.replace('_', ' ')} {report.drops_by_reason.get(reason.value, 0)}"
            for reason in DropReason
        )
        lines.append(f"Drops since the edge started ({report.metrics_url}): {reasons}.")
    if report.total.mismatches:
        lines.append(
            f"{report.total.mismatches} mismatch(es): each with both answers and its differences in"
            f" {report.mismatches_file}"
        )
    else:
        lines.append("No mismatch.")
    return lines


def _records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The comparison records in `path`, and how many lines could not be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], 0
    except OSError as error:
        raise _Refused(f"cannot read {path}: {error}") from None
    records: list[dict[str, Any]] = []
    unreadable = 0
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable += 1
    return records, unreadable


def _drops(metrics_url: str | None) -> tuple[dict[str, dict[str, int]] | None, str | None]:
    """The drops the edge counted, by route and reason; or None and why they are unknown."""
    if metrics_url is None:
        return None, "no --metrics-url"
    try:
        response = httpx.get(metrics_url, timeout=_METRICS_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as error:
        return None, f"{metrics_url} did not answer: {type(error).__name__}"
    drops: dict[str, dict[str, int]] = defaultdict(dict)
    try:
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == _DROPS_METRIC:
                    drops[sample.labels["route"]][sample.labels["reason"]] = int(sample.value)
    except (ValueError, KeyError) as error:
        return None, f"{metrics_url} is not the edge's metrics: {error}"
    return dict(drops), None


def _sum_drops(drops: Mapping[str, Mapping[str, int]]) -> int:
    return sum(sum(reasons.values()) for reasons in drops.values())


def _live_state(control_file: Path | None) -> tuple[dict[str, str] | None, str | None]:
    if control_file is None:
        return None, None
    try:
        shadow = read_control(control_file).shadow
    except ControlFileError as error:
        return None, str(error)
    return (
        None if shadow is None else {"group": str(shadow.group), "candidate": str(shadow.candidate)}
    ), None


def _figures(route: str, records: Sequence[Mapping[str, Any]], drops: int | None) -> RouteFigures:
    outcomes = Counter(record.get("outcome") for record in records)
    return RouteFigures(
        route=route,
        requests=len(records),
        matches=outcomes[Outcome.MATCH.value],
        mismatches=outcomes[Outcome.MISMATCH.value],
        candidate_errors=outcomes[Outcome.CANDIDATE_ERROR.value],
        primary_ms=_percentiles(record.get("primary_seconds") for record in records),
        candidate_ms=_percentiles(record.get("candidate_seconds") for record in records),
        drops=drops,
    )


def _percentiles(seconds: Iterable[object]) -> list[float] | None:
    """The 50th, 95th and 99th percentile in milliseconds (nearest rank); None without a measure."""
    values = sorted(float(value) * 1000 for value in seconds if isinstance(value, int | float))
    if not values:
        return None
    return [round(values[max(math.ceil(p / 100 * len(values)), 1) - 1], 2) for p in _PERCENTILES]


def _latencies(values: list[float] | None) -> str:
    return "-" if values is None else " / ".join(f"{value:.1f}" for value in values)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _say(message: str) -> None:
    print(message, flush=True)
