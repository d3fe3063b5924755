"""`snappy phase`: see and change the routing phase of a running edge, without a restart.

- `status [--json]` prints the edge's phase, where each route group goes in it, the parts
  the edge has an address for, the phase its front (nginx or Caddy) has taken, and any
  write freeze (a cutover's), all read from the edge's own /metrics, as the edge sees
  them now.
- `set N` writes the phase into the edge's live control file (`snappy_edge.control`), keeping
  what else it says (a shadow), then waits until the edge reports phase N, lane and front.
  From then on new requests follow phase N's routing; a request already in flight finishes
  at the part it started on (the lane decides once per request; nginx's old workers finish
  theirs after a reload). It refuses, with one line and exit status 2, a phase that routes
  to a part the edge has no address for.

`set` moves the routing only. Which store owns the data of a route group is the
migration's business (`snappy migrate`, docs/migration-guide.md): move the routing where
the data already is.

With no options, both act on the edge of the stack `snappy up` started (the strangler
stack's, else the microservices'), as `.snappy/stack.json` describes it; `--edge-url` and
`--control-file` name another edge.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from snappy_devstack.local_stack import LocalStack, running_local_stack
from snappy_devstack.stack import default_state_dir
from snappy_edge.control import ControlFileError, read_control, write_control
from snappy_edge.routing import PHASES, ROUTE_GROUPS
from snappy_migration.errors import MigrationError
from snappy_topology import PartName, RouteGroupName

__all__ = ["PHASE", "EdgeState", "add_phase_parser", "edge_state", "read_edge_state", "run_phase"]

PHASE = "phase"
_EXIT_NOT_CONFIRMED = 1
_EXIT_USAGE = 2
_METRICS_TIMEOUT_SECONDS = 5.0
# The edge reads its control file again within a second (the front's poll); this is ample.
_CONFIRM_TIMEOUT_SECONDS = 15.0
_CONFIRM_INTERVAL_SECONDS = 0.1


class _Refused(Exception):
    """The command cannot act: one line says why (exit status 2)."""


@dataclass(frozen=True)
class EdgeState:
    """A running edge's routing state, as its /metrics reports it."""

    phase: int
    routes: Mapping[RouteGroupName, PartName]
    configured_parts: frozenset[PartName]
    # None for an edge without a front (the lane alone).
    front: str | None
    front_phase: int | None
    # Route groups whose writes the edge refuses now (a cutover's freeze), and the writes
    # it is carrying per route group.
    frozen: frozenset[RouteGroupName] = frozenset()
    writes_in_flight: Mapping[RouteGroupName, int] = field(default_factory=dict)

    def has_taken(self, phase: int) -> bool:
        """True when the lane, and the front if there is one, route by `phase`."""
        return self.phase == phase and (self.front is None or self.front_phase == phase)


def edge_state(metrics_text: str) -> EdgeState:
    """The state in an edge's /metrics text; ValueError when it is not an edge's."""
    phase: int | None = None
    routes: dict[RouteGroupName, PartName] = {}
    configured: set[PartName] = set()
    front: str | None = None
    front_phase: int | None = None
    frozen: set[RouteGroupName] = set()
    in_flight: dict[RouteGroupName, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "snappy_edge_phase":
                phase = int(sample.value)
            elif sample.name == "snappy_edge_route" and sample.value == 1:
                routes[RouteGroupName(sample.labels["group"])] = PartName(sample.labels["part"])
            elif sample.name == "snappy_edge_part_configured" and sample.value == 1:
                configured.add(PartName(sample.labels["part"]))
            elif sample.name == "snappy_edge_front_phase":
                front, front_phase = sample.labels["front"], int(sample.value)
            elif sample.name == "snappy_edge_write_freeze" and sample.value == 1:
                frozen.add(RouteGroupName(sample.labels["group"]))
            elif sample.name == "snappy_edge_writes_in_flight":
                in_flight[RouteGroupName(sample.labels["group"])] = int(sample.value)
    if phase is None:
        raise ValueError("no snappy_edge_phase in the answer: is this an edge's /metrics?")
    return EdgeState(phase, routes, frozenset(configured), front, front_phase, frozenset(frozen), in_flight)


def add_phase_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `phase status|set` to the `snappy` command's subcommands."""
    phase = commands.add_parser(
        PHASE,
        help="show or change the routing phase of a running edge",
        description=(
            "Show or change the phase a running edge routes by, without restarting it. With no options,"
            " the edge of the stack `snappy up` started."
        ),
    )
    actions = phase.add_subparsers(dest="phase_command", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="the edge's phase, its routing, and the parts it can reach",
        description="Print the running edge's phase, where each route group goes, and its front's phase.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON document")
    _add_edge_options(status)
    set_phase = actions.add_parser(
        "set",
        help="route by another phase from the next request on",
        description=(
            "Write the phase into the edge's control file and wait until the edge, lane and front, routes"
            " by it. Requests in flight finish where they started."
        ),
    )
    set_phase.add_argument(
        "phase", type=_phase, metavar="N", help=f"the phase: {', '.join(map(str, PHASES))}"
    )
    _add_edge_options(set_phase)


def _add_edge_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--edge-url",
        default=None,
        metavar="URL",
        help="the edge's base URL (default: the local stack's edge)",
    )
    parser.add_argument(
        "--control-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="the edge's control file (SNAPPY_EDGE_CONTROL_FILE; default: the local stack's)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the state folder of `snappy up` (default: .snappy in the repository root)",
    )


def _phase(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value not in PHASES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a phase; phases are {', '.join(map(str, PHASES))}")
    return value


def run_phase(arguments: argparse.Namespace) -> int:
    """Run `snappy phase <action>`; the exit status."""
    action: str = arguments.phase_command
    try:
        if action == "status":
            return _status(arguments)
        return _set(arguments)
    except _Refused as error:
        print(f"snappy phase {action}: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return _EXIT_USAGE


# --- which edge ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    url: str
    control_file: Path | None


def _edge(arguments: argparse.Namespace) -> _Edge:
    url: str | None = arguments.edge_url
    control_file: Path | None = arguments.control_file
    if url is None or control_file is None:
        local = _local_stack(arguments)
        url = url or local.strangler_url or local.microservices_url
        if control_file is None and local.edge_control_file:
            control_file = Path(local.edge_control_file)
    if url is None:
        raise _Refused("the local stack's description names no edge: give --edge-url")
    return _Edge(url.rstrip("/"), control_file)


def _local_stack(arguments: argparse.Namespace) -> LocalStack:
    try:
        return running_local_stack(
            arguments.state_dir or default_state_dir(Path.cwd()),
            how_to_start="start one with `./snappy up --stack strangler --phase 0`, or give --edge-url and"
            " --control-file",
        )
    except MigrationError as error:
        raise _Refused(str(error)) from None


def read_edge_state(edge_url: str) -> EdgeState:
    """The running edge's state from its /metrics; ValueError (one line) when it cannot be read."""
    try:
        response = httpx.get(f"{edge_url}/metrics", timeout=_METRICS_TIMEOUT_SECONDS)
        response.raise_for_status()
        return edge_state(response.text)
    except httpx.HTTPError as error:
        raise ValueError(f"cannot read the edge's state at {edge_url}/metrics: {error}") from None
    except ValueError as error:
        raise ValueError(f"{edge_url}/metrics: {error}") from None


def _read_state(edge: _Edge) -> EdgeState:
    try:
        return read_edge_state(edge.url)
    except ValueError as error:
        raise _Refused(str(error)) from None


# --- status and set -----------------------------------------------------------------------------


def _status(arguments: argparse.Namespace) -> int:
    edge = _edge(arguments)
    state = _read_state(edge)
    if arguments.json:
        document = {
            "edge": edge.url,
            "phase": state.phase,
            "routes": {str(group): str(part) for group, part in state.routes.items()},
            "configured_parts": sorted(map(str, state.configured_parts)),
            "front": state.front,
            "front_phase": state.front_phase,
            "write_freeze": sorted(map(str, state.frozen)),
            "control_file": str(edge.control_file) if edge.control_file else None,
        }
        print(json.dumps(document, indent=2), flush=True)
        return 0
    front = (
        "no front (the lane alone)"
        if state.front is None
        else f"{state.front} in front, at phase {state.front_phase}"
    )
    _say(f"edge {edge.url}: phase {state.phase} ({front})")
    _print_routes(state.routes)
    _say(f"  parts it has an address for: {', '.join(sorted(map(str, state.configured_parts))) or 'none'}")
    _say(f"  write freeze: {', '.join(sorted(map(str, state.frozen))) or 'none'}")
    if edge.control_file is not None:
        _say(f"  control file: {edge.control_file}")
    return 0


def _set(arguments: argparse.Namespace) -> int:
    phase: int = arguments.phase
    edge = _edge(arguments)
    if edge.control_file is None:
        raise _Refused("the local stack's description names no edge control file: give --control-file")
    before = _read_state(edge)
    missing = sorted(set(PHASES[phase].values()) - before.configured_parts)
    if missing:
        raise _Refused(
            f"phase {phase} routes to {', '.join(map(str, missing))}, which this edge has no address for"
        )
    try:
        current = read_control(edge.control_file)
    except ControlFileError as error:
        raise _Refused(f"the control file is unusable, fix it first: {error}") from None
    started = time.monotonic()
    write_control(edge.control_file, replace(current, phase=phase))
    state = before
    while not state.has_taken(phase) and time.monotonic() - started < _CONFIRM_TIMEOUT_SECONDS:
        time.sleep(_CONFIRM_INTERVAL_SECONDS)
        state = _read_state(edge)
    if not state.has_taken(phase):
        print(
            f"snappy phase set: wrote phase {phase} to {edge.control_file}, but after"
            f" {_CONFIRM_TIMEOUT_SECONDS:.0f} s the edge reports phase {state.phase}"
            f" (front: {state.front_phase}); see the edge's log",
            file=sys.stderr,
            flush=True,
        )
        return _EXIT_NOT_CONFIRMED
    _say(f"edge {edge.url}: phase {before.phase} -> {phase}, taken in {time.monotonic() - started:.1f} s")
    _print_routes(state.routes, before=before.routes)
    return 0


def _print_routes(
    routes: Mapping[RouteGroupName, PartName], before: Mapping[RouteGroupName, PartName] | None = None
) -> None:
    width = max(len(str(group.name)) for group in ROUTE_GROUPS)
    for group in ROUTE_GROUPS:
        part = routes.get(group.name)
        was = None if before is None else before.get(group.name)
        moved = f"   (was {was})" if was is not None and was != part else ""
        _say(f"  {group.name!s:<{width}}  -> {part}{moved}")


def _say(line: str) -> None:
    print(line, flush=True)
