"""Mermaid diagrams of the strangler's phases and of a cutover, generated from the code.

- `phase_diagram(N)`: who serves what in phase N (the edge's routing table,
  `snappy_edge.routing`), the parts that run but serve nothing (standing by,
  `snappy_devstack.stack.strangler_parts`), each part's stores (`snappy_topology`) with
  what it writes in them, and the data that flows between stores in that phase (who owns
  which table, `snappy_migration.phases`). A solid arrow carries requests or a part's
  writes of the data it owns; a dotted arrow is data copied from store to store; a dotted
  line ties a part to a store it does not write in that phase (standing by, or holding what
  it had at the cutover).
- `cutover_sequence()`: the steps of `snappy cutover --to N` (`snappy_devstack.cutover`),
  from `CUTOVER_STEPS` below; a test holds them to the timeline lines cutover.py prints.

The documentation carries them between markers, each on a line of its own, around a
fenced mermaid block that this module writes:

    <!-- diagram: phase 2 -->
    ```mermaid
    ...
    ```
    <!-- /diagram -->

(`<!-- diagram: cutover -->` for the sequence). To fill or refresh the blocks, and to
check that none is stale (a test runs the check on the repository's documentation):

    .venv/bin/python -m snappy_devstack.diagrams --write docs/migration-guide.md
    .venv/bin/python -m snappy_devstack.diagrams --check

With no file named, both act on every tracked docs/*.md and README.md. Only what lies
between the markers is rewritten. `--check` exits 1 naming each stale block, 2 on a marker
it cannot read.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from snappy_devstack.stack import strangler_parts
from snappy_edge import routing
from snappy_migration.mapping import OBJECTS_TABLE, OBJECTS_TARGET, TABLES, TableMapping
from snappy_migration.phases import REFERENCE_COLUMNS, monolith_owns
from snappy_topology import PartName, RouteGroupName, part

__all__ = [
    "CUTOVER_PARTICIPANTS",
    "CUTOVER_STEPS",
    "Block",
    "BlockState",
    "DiagramError",
    "Message",
    "Note",
    "Step",
    "check_files",
    "cutover_sequence",
    "cutover_timeline_templates",
    "default_files",
    "diagram_named",
    "main",
    "phase_diagram",
    "phase_diagrams",
    "rewrite",
    "write_files",
]

_REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
_INDENT = "    "


class DiagramError(ValueError):
    """A marker this module cannot act on: an unknown diagram, an opening marker left unclosed."""


# --- the phases ----------------------------------------------------------------------------


def _node_id(name: PartName, store: str = "") -> str:
    """A Mermaid node id for a part, or for one of its stores: "user_service", "user_service_database"."""
    return re.sub(r"[^A-Za-z0-9]", "_", name) + (f"_{store}" if store else "")


def _owner(table: TableMapping, phase: int) -> PartName:
    """The part that writes `table` in `phase`: the monolith until the table's service owns it."""
    return PartName.MONOLITH if monolith_owns(table, phase) else table.target


def _objects_table() -> TableMapping:
    """The table whose rows name the photos' objects: the objects have the same writer."""
    [table] = [t for t in TABLES if t.target == OBJECTS_TARGET and t.target_table == OBJECTS_TABLE]
    return table


@dataclass
class _Flowchart:
    """A flowchart's lines, in the order Mermaid lays them out (declaration order breaks ties)."""

    nodes: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)

    def text(self) -> str:
        body = [*self.nodes, *self.links, *self.styles]
        return "\n".join(["flowchart LR", *(_INDENT + line for line in body)])


def phase_diagram(phase: int) -> str:
    """Phase `phase` of the strangler as a Mermaid flowchart (see the module's docstring).

    Left to right: the client, the edge, the parts it routes to (each arrow labelled with the
    route groups that part serves), their stores, and the stores the migration fills. A part
    that runs but serves nothing is marked standing by, with no arrow from the edge; while
    the migration fills its stores it stands right of them, beside the data it will serve.
    """
    if phase not in routing.PHASES:
        raise ValueError(f"unknown phase {phase}; phases are {sorted(routing.PHASES)}")
    routes = routing.PHASES[phase]
    parts = strangler_parts(phase)
    served = {name: [group for group in RouteGroupName if routes.get(group) == name] for name in parts}
    # Mermaid breaks layout ties by declaration order: the parts that serve first (the monolith
    # first among them, the data flows from it), those standing by below them.
    running = sorted(parts, key=lambda name: (not served[name], list(PartName).index(name)))
    # The data moves while the monolith serves: at phase 3 it stands by, at phase 4 it is gone.
    flows = _data_flows(phase) if served.get(PartName.MONOLITH) else []
    filled = {target for _, _, target in flows}

    chart = _Flowchart()
    chart.nodes += ['client(["client"])', 'edge{{"edge"}}']
    # The flows declared before the parts' links: Mermaid then lays them out without crossings.
    chart.links += [
        "client --> edge",
        *(f'{source} -.->|"{label}"| {target}' for source, label, target in flows),
    ]
    for name in running:
        stores = _stores_of(name, phase)
        if served[name]:
            chart.nodes.append(f'{_node_id(name)}["{name}"]')
            groups = "<br/>".join(str(group) for group in served[name])
            chart.links.append(f'edge -->|"{groups}"| {_node_id(name)}')
        else:
            chart.nodes.append(f'{_node_id(name)}["{name}<br/>standing by"]:::standby')
        beside_its_data = not served[name] and any(_node_id(name, store) in filled for store, _, _ in stores)
        if not served[name] and not beside_its_data:
            # An invisible link keeps it in the column of the parts rather than left of the client.
            chart.links.append(f"edge ~~~ {_node_id(name)}")
        for store, label, written in stores:
            store_id = _node_id(name, store)
            chart.nodes.append(f'{store_id}[("{label}")]:::store')
            if beside_its_data:
                # Declared store first, so the layout puts the part right of the store being filled.
                chart.links.append(f"{store_id} -.- {_node_id(name)}")
            elif written:
                chart.links.append(f'{_node_id(name)} -->|"writes {", ".join(written)}"| {store_id}')
            else:
                # A part that writes no data of its own there in this phase (standing by, or its
                # store keeps what it held at the cutover): a dotted line, no arrow.
                chart.links.append(f"{_node_id(name)} -.- {store_id}")
    chart.styles += [
        "classDef standby fill:#f4f4f4,stroke:#888,stroke-dasharray:5 4,color:#555",
        "classDef store fill:#eef5ff,stroke:#5b7db1",
    ]
    return chart.text()


def _stores_of(name: PartName, phase: int) -> list[tuple[str, str, list[str]]]:
    """The stores of part `name` (`snappy_topology`): kind, label, and what it writes there in `phase`.

    A part writes the tables it owns in `phase` (`snappy_migration.phases`) in its database,
    and the photos' objects in its bucket while it owns the table that names them.
    """
    described = part(name)
    # The bucket first: declared above the database, it leaves the database nearest the parts
    # below, whose reference rows arrive in the monolith's.
    stores: list[tuple[str, str, list[str]]] = []
    if described.bucket is not None:
        objects = ["objects"] if _owner(_objects_table(), phase) == name else []
        stores.append(("bucket", f"{described.bucket}<br/>bucket", objects))
    if described.database is not None:
        tables = [
            table.target_table if name == table.target else table.source_table
            for table in TABLES
            if _owner(table, phase) == name
        ]
        stores.append(("database", described.database, tables))
    return stores


def _data_flows(phase: int) -> list[tuple[str, str, str]]:
    """The copies between stores in `phase`, while the monolith serves: (from, label, to) node ids.

    The migration copies (backfill, then sync) the tables the monolith still owns into the
    services' databases, and the objects into photo-service's bucket with the photos; the
    monolith writes reference rows of the owner's rows its requests name (users, from
    user-service, from phase 1).
    """
    monolith = PartName.MONOLITH
    copied: dict[PartName, list[str]] = {}
    referenced: dict[PartName, list[str]] = {}
    for table in TABLES:
        if monolith_owns(table, phase):
            copied.setdefault(table.target, []).append(table.target_table)
        elif table.source_table in REFERENCE_COLUMNS:
            referenced.setdefault(table.target, []).append(table.source_table)
    flows = [
        (_node_id(monolith, "database"), f"migrate {', '.join(tables)}", _node_id(target, "database"))
        for target, tables in copied.items()
    ]
    if monolith_owns(_objects_table(), phase):
        flows.append((_node_id(monolith, "bucket"), "migrate objects", _node_id(OBJECTS_TARGET, "bucket")))
    flows += [
        (_node_id(owner), f"reference rows: {', '.join(tables)}", _node_id(monolith, "database"))
        for owner, tables in referenced.items()
    ]
    return flows


def phase_diagrams() -> dict[int, str]:
    """Every phase's diagram, by phase."""
    return {phase: phase_diagram(phase) for phase in sorted(routing.PHASES)}


# --- the cutover ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """An arrow of the sequence; `timeline` is the line `snappy cutover` prints at this step.

    `timeline` is the line's template as cutover.py writes it, each placeholder as "{}": a
    test holds the set of templates here equal to the set cutover.py records, so a step
    added to, removed from or reworded in the cutover fails it until the diagram follows.
    """

    sender: str
    receiver: str
    text: str
    timeline: str | None = None
    reply: bool = False


@dataclass(frozen=True)
class Note:
    """A note over one participant or spanning two."""

    over: tuple[str, ...]
    text: str
    timeline: str | None = None


@dataclass(frozen=True)
class Block:
    """A Mermaid block: `opt`, `break`, `rect` (its label a colour), or `alt` with its `else` branches."""

    keyword: str
    label: str
    body: tuple[Step, ...]
    otherwise: tuple[tuple[str, tuple[Step, ...]], ...] = ()


Step = Message | Note | Block

# The participants, in the order they stand: id and name.
CUTOVER_PARTICIPANTS: Final = (
    ("operator", "operator"),
    ("cutover", "snappy cutover"),
    ("edge", "edge"),
    ("old", "old owner"),
    ("new", "new owner"),
    ("ownership", "monolith's database<br/>(ownership phase)"),
    ("migration", "migration"),
)
_FREEZE_COLOUR = "rgba(255, 196, 0, 0.16)"

# The flip's two steps, in the order the way goes (snappy_devstack.cutover._frozen_move).
_RECORD_OWNERSHIP = Message(
    "cutover",
    "ownership",
    "record ownership phase N",
    timeline="the monolith's database records ownership phase {}",
)
_ROUTE_BY_PHASE_N = Message("cutover", "edge", "route by phase N", timeline="the edge routes by phase {}")

CUTOVER_STEPS: Final[tuple[Step, ...]] = (
    Message("operator", "cutover", "snappy cutover --to N"),
    Message("cutover", "edge", "phase? (/metrics)"),
    Message("cutover", "ownership", "ownership phase?"),
    Note(
        ("cutover",),
        "they agree, and N is one phase away<br/>the moving route group, its old and new owner:<br/>"
        "the cell of the routing table that differs",
        timeline="phase {} -> {}: {} moves from {} to {}",
    ),
    Message("cutover", "old", "GET /readyz"),
    Message("cutover", "new", "GET /readyz", timeline="the parts of phase {} answer"),
    Block(
        "opt",
        "forward, the services' stores never filled",
        (
            Message(
                "cutover",
                "migration",
                "backfill the services' stores",
                timeline="backfilled the services' stores: rows {}; objects {}",
            ),
        ),
    ),
    Message(
        "cutover",
        "migration",
        "sync the change log; lag at most --max-lag",
        timeline="synced {} changes outside the freeze; lag {}",
    ),
    Block(
        "opt",
        "users or photos move (the pages carry no data)",
        (
            Message(
                "cutover",
                "migration",
                "verify it at the current phase",
                timeline="{}: verified at phase {}, but for writes still to sync",
            ),
        ),
    ),
    Block(
        "alt",
        "forward, photos move: their objects settled before the freeze",
        (
            Message(
                "cutover",
                "migration",
                "compare every named object, listing both buckets",
                timeline="objects: {} found equal before the freeze; the freeze checks the rest",
            ),
        ),
        (
            (
                "backward, photos move",
                (
                    Message(
                        "cutover",
                        "migration",
                        "copy every named object back, listing both buckets",
                        timeline="objects: {} in the monolith's bucket before the freeze",
                    ),
                ),
            ),
        ),
    ),
    Block(
        "opt",
        "forward: parity probe",
        (
            Message("cutover", "old", "GET the group's reads"),
            Message("cutover", "new", "GET the same reads", timeline="{}: {} answers as {} does"),
        ),
    ),
    Block(
        "break",
        "a precondition fails",
        (Message("cutover", "operator", "refused, nothing changed (exit 2)", reply=True),),
    ),
    Block(
        "rect",
        _FREEZE_COLOUR,
        (
            Note(("cutover", "migration"), "write freeze of the moving route group"),
            Message(
                "cutover",
                "edge",
                "freeze the group's writes: 503 + Retry-After; reads flow",
                timeline="{}: writes frozen",
            ),
            Message("cutover", "edge", "wait: no write in flight", timeline="{}: no write in flight"),
            Block(
                "alt",
                "forward, with users or photos",
                (
                    Message(
                        "cutover",
                        "migration",
                        "final sync, hand over state, verify",
                        timeline="final sync: {} changes, state handed over; verified",
                    ),
                    Message("migration", "new", "last changes, revoked tokens, throttle, upload keys"),
                ),
                (
                    (
                        "backward, with users or photos",
                        (
                            Message(
                                "cutover",
                                "migration",
                                "move back, verify at phase N",
                                timeline="moved back: {}; verified at phase {}",
                            ),
                            Message("migration", "new", "what the old owner wrote in its phase"),
                        ),
                    ),
                ),
            ),
            Block(
                "alt",
                "forward: the next owner, a service, serves the group already",
                (_ROUTE_BY_PHASE_N, _RECORD_OWNERSHIP),
                (
                    (
                        "backward: the monolith owns the group before the edge sends it there",
                        (_RECORD_OWNERSHIP, _ROUTE_BY_PHASE_N),
                    ),
                ),
            ),
            Block(
                "alt",
                "every step passed",
                (
                    Message("cutover", "edge", "thaw the group's writes", timeline="{}: writes thawed"),
                    Note(
                        ("cutover",),
                        "how long writes were frozen",
                        timeline="writes of {} were frozen for {} s",
                    ),
                ),
                (
                    (
                        "a step in the freeze fails",
                        (
                            Message("cutover", "ownership", "ownership phase back, if recorded"),
                            Message(
                                "cutover",
                                "edge",
                                "phase back, thaw",
                                timeline="undone: back to phase {}, writes thawed",
                            ),
                            Message(
                                "cutover",
                                "operator",
                                "undone, the stack stays in its phase (exit 1)",
                                reply=True,
                            ),
                        ),
                    ),
                ),
            ),
        ),
    ),
    Message("cutover", "operator", "summary with the freeze's duration (exit 0)", reply=True),
)


def cutover_sequence() -> str:
    """`snappy cutover --to N` as a Mermaid sequence diagram, from `CUTOVER_STEPS`."""
    lines = ["sequenceDiagram"]
    for participant_id, name in CUTOVER_PARTICIPANTS:
        kind = "actor" if participant_id == "operator" else "participant"
        lines.append(f"{_INDENT}{kind} {participant_id} as {name}")
    lines += _sequence_lines(CUTOVER_STEPS, depth=1)
    return "\n".join(lines)


def _sequence_lines(steps: Sequence[Step], depth: int) -> list[str]:
    indent = _INDENT * depth
    lines: list[str] = []
    for step in steps:
        if isinstance(step, Message):
            arrow = "-->>" if step.reply else "->>"
            lines.append(f"{indent}{step.sender}{arrow}{step.receiver}: {_sequence_text(step.text)}")
        elif isinstance(step, Note):
            where = f"over {','.join(step.over)}" if len(step.over) > 1 else f"right of {step.over[0]}"
            lines.append(f"{indent}Note {where}: {_sequence_text(step.text)}")
        else:
            lines.append(f"{indent}{step.keyword} {step.label}")
            lines += _sequence_lines(step.body, depth + 1)
            for label, branch in step.otherwise:
                lines.append(f"{indent}else {label}")
                lines += _sequence_lines(branch, depth + 1)
            lines.append(f"{indent}end")
    return lines


def _sequence_text(text: str) -> str:
    """`text` for a sequence diagram, where a semicolon ends a statement: written as its entity code."""
    return text.replace(";", "#59;")


def cutover_timeline_templates(steps: Sequence[Step] = CUTOVER_STEPS) -> list[str]:
    """The timeline lines the steps stand for, in the diagram's order."""
    templates: list[str] = []
    for step in steps:
        if isinstance(step, Block):
            for branch in (step.body, *(body for _, body in step.otherwise)):
                templates += cutover_timeline_templates(branch)
        elif step.timeline is not None:
            templates.append(step.timeline)
    return templates


# --- the documentation's blocks ------------------------------------------------------------

_OPENING = re.compile(r"^<!-- diagram: (?P<name>.*?) -->[ \t]*$", re.MULTILINE)
_CLOSING = re.compile(r"^<!-- /diagram -->[ \t]*$", re.MULTILINE)
_PHASE_NAME = re.compile(r"phase (?P<phase>\d+)")
_CUTOVER_NAME = "cutover"


def diagram_named(name: str) -> str:
    """The Mermaid text a marker names: "phase N" or "cutover"; DiagramError for another name."""
    phase = _PHASE_NAME.fullmatch(name)
    if phase is not None and int(phase["phase"]) in routing.PHASES:
        return phase_diagram(int(phase["phase"]))
    if name == _CUTOVER_NAME:
        return cutover_sequence()
    known = ", ".join([*(f"phase {n}" for n in sorted(routing.PHASES)), _CUTOVER_NAME])
    raise DiagramError(f"no diagram is called {name!r} (there are: {known})")


def _fenced(text: str) -> str:
    return f"```mermaid\n{text}\n```\n"


@dataclass(frozen=True)
class BlockState:
    """One marker block of a file: its diagram, the line of its opening marker, and whether it is current."""

    path: Path
    line: int
    name: str
    current: bool


def rewrite(text: str, *, path: Path = Path("<text>")) -> tuple[str, list[BlockState]]:
    """`text` with every marker block holding its diagram, and the state each block was in.

    Only what lies between an opening marker's line and its closing marker's line changes.
    """
    pieces: list[str] = []
    states: list[BlockState] = []
    position = 0
    while (opening := _OPENING.search(text, position)) is not None:
        line = text.count("\n", 0, opening.start()) + 1
        body_start = opening.end() + 1  # the line after the marker
        closing = _CLOSING.search(text, opening.end())
        following = _OPENING.search(text, opening.end())
        if closing is None or (following is not None and following.start() < closing.start()):
            raise DiagramError(
                f"{path}:{line}: `<!-- diagram: {opening['name']} -->` has no `<!-- /diagram -->`"
            )
        try:
            wanted = _fenced(diagram_named(opening["name"].strip()))
        except DiagramError as error:
            raise DiagramError(f"{path}:{line}: {error}") from None
        states.append(
            BlockState(path, line, opening["name"].strip(), text[body_start : closing.start()] == wanted)
        )
        pieces += [text[position:body_start], wanted]
        position = closing.start()
    pieces.append(text[position:])
    return "".join(pieces), states


def default_files() -> list[Path]:
    """The files the command acts on when none is named: the tracked docs/*.md and README.md."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", ":(glob)docs/*.md", "README.md"],  # noqa: S607 - git from PATH
        cwd=_REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [_REPOSITORY_ROOT / name for name in listed.split("\0") if name]


def check_files(paths: Sequence[Path]) -> list[BlockState]:
    """The state of every marker block in `paths`, changing nothing."""
    states: list[BlockState] = []
    for path in paths:
        states += rewrite(path.read_text(encoding="utf-8"), path=path)[1]
    return states


def write_files(paths: Sequence[Path]) -> list[BlockState]:
    """Rewrite the marker blocks of `paths` in place (a file without a stale block is left untouched)."""
    states: list[BlockState] = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        rewritten, found = rewrite(text, path=path)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")
        states += found
    return states


def _shown(path: Path) -> str:
    """`path` as people type it from here: relative when it is under the working directory."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m snappy_devstack.diagrams --write|--check [FILE...]`; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m snappy_devstack.diagrams",
        description="Write or check the Mermaid diagrams between `<!-- diagram: ... -->` markers.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the marker blocks in place")
    action.add_argument("--check", action="store_true", help="exit 1 when a marker block is stale")
    parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="default: every tracked docs/*.md and README.md"
    )
    arguments = parser.parse_args(argv)
    paths: list[Path] = arguments.files or default_files()
    try:
        states = write_files(paths) if arguments.write else check_files(paths)
    except (DiagramError, OSError) as error:
        print(f"diagrams: {error}", file=sys.stderr)
        return 2
    stale = [state for state in states if not state.current]
    counted = f"{_count(len(paths), 'file')}, {_count(len(states), 'block')}"
    if arguments.write:
        print(f"diagrams: {counted}, {len(stale)} rewritten")
        return 0
    for state in stale:
        print(f"{_shown(state.path)}:{state.line}: the diagram {state.name!r} is stale", file=sys.stderr)
    if stale:
        files = " ".join(dict.fromkeys(_shown(state.path) for state in stale))
        print(f"to fix: python -m snappy_devstack.diagrams --write {files}", file=sys.stderr)
        return 1
    print(f"diagrams: {counted}, all current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
