"""The architecture diagrams follow the code, and the documentation's copies of them are current.

Each phase's flowchart is read back into its nodes and links, and held to the routing
table, the topology and the ownership of every table; changing one of those changes the
diagram. The cutover's sequence is held to the timeline `snappy cutover` prints. The
writer rewrites only what lies between markers, and the check fails on a stale block.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from snappy_devstack import cutover as cutover_module
from snappy_devstack import diagrams
from snappy_devstack.diagrams import (
    CUTOVER_STEPS,
    DiagramError,
    check_files,
    cutover_sequence,
    cutover_timeline_templates,
    default_files,
    phase_diagram,
    rewrite,
)
from snappy_edge import routing
from snappy_migration.phases import SERVICE_OWNS_FROM
from snappy_topology import PARTS, PartName, RouteGroupName, part

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
_NODE = re.compile(r'^(?P<id>\w+)(?P<open>[\[({]+)"(?P<label>.*?)"[\])}]+(?::::(?P<class>\w+))?$')
_LINK = re.compile(
    r'^(?P<source>\w+) (?P<arrow>-->|-\.->|-\.-|~~~)(?:\|"(?P<label>[^"]*)"\|)? (?P<target>\w+)$'
)


@dataclass(frozen=True)
class Link:
    source: str  # the label of the node the link starts at, as a reader sees it
    arrow: str
    label: str
    target: str


@dataclass(frozen=True)
class Flowchart:
    """A phase diagram read back: node labels by id, class names by label, links by labels."""

    labels: dict[str, str]
    classes: dict[str, str]
    links: list[Link]

    def part(self, name: PartName) -> str:
        """The label of the node of part `name`; fails when the diagram has none."""
        [label] = [label for label in self.labels.values() if label.split("<br/>")[0] == name]
        return label

    def has_node(self, text: str) -> bool:
        return any(label.split("<br/>")[0] == text for label in self.labels.values())

    def links_from(self, source: str, arrow: str | None = None) -> list[Link]:
        return [link for link in self.links if link.source == source and arrow in (None, link.arrow)]

    def link(self, source: str, target: str) -> Link:
        [found] = [link for link in self.links if (link.source, link.target) == (source, target)]
        return found


def read_flowchart(text: str) -> Flowchart:
    """The nodes and links of a generated flowchart; every line must be one the reader knows."""
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart LR"
    labels: dict[str, str] = {}
    classes: dict[str, str] = {}
    raw_links: list[re.Match[str]] = []
    for line in lines[1:]:
        if line.startswith("classDef "):
            continue
        node, link = _NODE.match(line), _LINK.match(line)
        assert node or link, f"a line the test cannot read: {line!r}"
        if node:
            labels[node["id"]] = node["label"]
            classes[node["label"]] = node["class"] or ""
        elif link:
            raw_links.append(link)
    links = [
        Link(labels[match["source"]], match["arrow"], match["label"] or "", labels[match["target"]])
        for match in raw_links
    ]
    return Flowchart(labels, classes, links)


def database(name: PartName) -> str:
    described = part(name).database
    assert described is not None
    return described


def bucket(name: PartName) -> str:
    described = part(name).bucket
    assert described is not None
    return f"{described}<br/>bucket"


# --- the phases ----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", sorted(routing.PHASES))
def test_the_edges_arrows_follow_the_routing_table(phase: int) -> None:
    chart = read_flowchart(phase_diagram(phase))
    routed = chart.links_from("edge", "-->")
    for name in set(routing.PHASES[phase].values()):
        groups = [group for group in RouteGroupName if routing.PHASES[phase][group] == name]
        [arrow] = [link for link in routed if link.target == name]
        assert arrow.label.split("<br/>") == [str(group) for group in groups]
    assert len(routed) == len(set(routing.PHASES[phase].values()))


def test_phase_1_sends_users_and_tokens_to_user_service() -> None:
    chart = read_flowchart(phase_diagram(1))
    assert chart.link("edge", "user-service").label == "users and tokens"
    assert chart.link("edge", "monolith").label == "photos, shares, feed<br/>web pages"


def test_phase_3_sends_the_web_pages_to_web_ui_and_the_monolith_stands_by() -> None:
    chart = read_flowchart(phase_diagram(3))
    assert chart.link("edge", "web-ui").label == "web pages"
    assert chart.part(PartName.MONOLITH) == "monolith<br/>standing by"
    assert chart.classes["monolith<br/>standing by"] == "standby"
    assert not [link for link in chart.links if link.target.startswith("monolith") and link.arrow == "-->"]


def test_phase_0_runs_every_service_standing_by() -> None:
    chart = read_flowchart(phase_diagram(0))
    for name in (PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI):
        label = chart.part(name)
        assert label == f"{name}<br/>standing by"
        assert chart.classes[label] == "standby"
        assert not [link for link in chart.links_from("edge") if link.target == label and link.arrow != "~~~"]


def test_phase_4_has_no_monolith_and_no_data_flows() -> None:
    chart = read_flowchart(phase_diagram(4))
    assert not chart.has_node("monolith")
    assert not chart.has_node(database(PartName.MONOLITH))
    assert "snappy-monolith" not in phase_diagram(4)
    assert not [link for link in chart.links if link.arrow == "-.->"]
    assert not [label for label in chart.labels.values() if "standing by" in label]


@pytest.mark.parametrize("phase", sorted(routing.PHASES))
def test_each_part_has_its_stores_from_the_topology(phase: int) -> None:
    chart = read_flowchart(phase_diagram(phase))
    for name in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI):
        if not chart.has_node(name):
            continue
        stores = [store for store in (part(name).database, part(name).bucket) if store is not None]
        for store in stores:
            label = store if store == part(name).database else f"{store}<br/>bucket"
            assert chart.classes[label] == "store"
            # Linked to its part one way or the other (a standing-by part stands right of the store).
            assert {(link.source, link.target) for link in chart.links} & {
                (chart.part(name), label),
                (label, chart.part(name)),
            }


def test_the_writer_arrows_name_what_each_part_owns() -> None:
    phase_1 = read_flowchart(phase_diagram(1))
    assert phase_1.link("user-service", "snappy_users").label == "writes users"
    assert phase_1.link("monolith", "snappy_monolith").label == "writes photos, shares"
    assert phase_1.link("monolith", "snappy-monolith<br/>bucket").label == "writes objects"
    phase_2 = read_flowchart(phase_diagram(2))
    assert phase_2.link("photo-service", "snappy_photos").label == "writes photos, shares"
    assert phase_2.link("photo-service", "snappy-photos<br/>bucket").label == "writes objects"
    # The monolith's stores keep what they held at the cutover: tied to it, not written.
    assert phase_2.link("monolith", "snappy_monolith").arrow == "-.-"


def data_flows(phase: int) -> set[tuple[str, str, str]]:
    chart = read_flowchart(phase_diagram(phase))
    return {(link.source, link.label, link.target) for link in chart.links if link.arrow == "-.->"}


def test_the_data_flows_follow_the_ownership_of_each_table() -> None:
    monolith_db, users_db, photos_db = "snappy_monolith", "snappy_users", "snappy_photos"
    monolith_bucket, photos_bucket = "snappy-monolith<br/>bucket", "snappy-photos<br/>bucket"
    assert data_flows(0) == {
        (monolith_db, "migrate users", users_db),
        (monolith_db, "migrate photos, shares", photos_db),
        (monolith_bucket, "migrate objects", photos_bucket),
    }
    assert data_flows(1) == {
        (monolith_db, "migrate photos, shares", photos_db),
        (monolith_bucket, "migrate objects", photos_bucket),
        ("user-service", "reference rows: users", monolith_db),
    }
    assert data_flows(2) == {("user-service", "reference rows: users", monolith_db)}
    # Phase 3's monolith serves nothing, so writes no reference row; phase 4 has none.
    assert data_flows(3) == set()
    assert data_flows(4) == set()


def test_changing_a_routing_cell_changes_the_diagram(monkeypatch: pytest.MonkeyPatch) -> None:
    before = phase_diagram(1)
    monkeypatch.setitem(routing.PHASES[1], RouteGroupName.PAGES, PartName.WEB_UI)
    after = read_flowchart(phase_diagram(1))
    assert phase_diagram(1) != before
    assert after.link("edge", "web-ui").label == "web pages"
    assert after.link("edge", "monolith").label == "photos, shares, feed"
    assert after.part(PartName.WEB_UI) == "web-ui"


def test_changing_who_owns_a_table_changes_the_data_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SERVICE_OWNS_FROM, "shares", 1)
    assert ("snappy_monolith", "migrate photos", "snappy_photos") in data_flows(1)
    assert read_flowchart(phase_diagram(1)).link("monolith", "snappy_monolith").label == "writes photos"


def test_the_stores_are_the_topologys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        PARTS, PartName.USER_SERVICE, replace(PARTS[PartName.USER_SERVICE], database="accounts")
    )
    chart = read_flowchart(phase_diagram(2))
    assert chart.link("user-service", "accounts").label == "writes users"
    assert not chart.has_node("snappy_users")


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phase 5"):
        phase_diagram(5)


# --- the cutover ---------------------------------------------------------------------------


def _templates(expression: ast.expr) -> list[str]:
    """The line templates an argument of `timeline.record` can print: each placeholder as "{}"."""
    if isinstance(expression, ast.JoinedStr):
        return [
            "".join(
                str(value.value) if isinstance(value, ast.Constant) else "{}" for value in expression.values
            )
        ]
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return [expression.value]
    if isinstance(expression, ast.IfExp):
        return _templates(expression.body) + _templates(expression.orelse)
    raise AssertionError(f"a timeline line the test cannot read: {ast.unparse(expression)}")


def recorded_templates(function: str | None = None) -> list[str]:
    """The templates of cutover.py's `timeline.record(...)` calls (or of one function's), in order."""
    module = ast.parse(Path(cutover_module.__file__).read_text(encoding="utf-8"))
    scope: ast.AST = module
    if function is not None:
        [scope] = [
            node for node in ast.walk(module) if isinstance(node, ast.FunctionDef) and node.name == function
        ]
    # Between phases 3 and 4 no route group moves: the sequence shows a route group's cutover,
    # and the guide's step 8 the monolith's retirement.
    [retirement] = [
        node
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef) and node.name == "_retire_or_restore"
    ]
    not_a_group_move = {id(node) for node in ast.walk(retirement)}
    calls = [
        node
        for node in ast.walk(scope)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "record"
        and id(node) not in not_a_group_move
    ]
    calls.sort(key=lambda call: (call.lineno, call.col_offset))
    return [template for call in calls for template in _templates(call.args[0])]


def test_the_cutover_steps_are_the_steps_cutover_prints() -> None:
    in_the_code = recorded_templates()
    assert len(in_the_code) >= 10, "cutover.py's timeline was not found"
    in_the_diagram = cutover_timeline_templates()
    # A step the diagram shows in two branches (the flip's, forward and back) is one step.
    assert sorted(set(in_the_diagram)) == sorted(in_the_code), (
        "snappy cutover's timeline changed: update CUTOVER_STEPS in snappy_devstack/diagrams.py"
    )


@pytest.mark.parametrize("function", ["cutover", "_frozen_move"])
def test_the_cutover_steps_come_in_the_order_cutover_takes_them(function: str) -> None:
    in_the_code = recorded_templates(function)
    assert in_the_code
    in_the_diagram = [template for template in cutover_timeline_templates() if template in in_the_code]
    assert in_the_diagram == in_the_code


def test_the_cutover_sequence_marks_the_freeze_and_the_undo() -> None:
    text = cutover_sequence()
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "sequenceDiagram"
    freeze_start = next(i for i, line in enumerate(lines) if line.startswith("rect "))
    frozen = lines.index("cutover->>edge: freeze the group's writes: 503 + Retry-After#59; reads flow")
    undo = lines.index("else a step in the freeze fails")
    thawed = lines.index("cutover->>edge: thaw the group's writes")
    assert freeze_start < frozen < thawed < undo
    assert lines.index("break a precondition fails") < freeze_start
    # Every block is closed; a semicolon would end a statement early, so none is left bare.
    openers = sum(line.split(" ")[0] in {"alt", "opt", "rect", "break", "loop"} for line in lines)
    assert openers == lines.count("end")
    assert not [line for line in lines if ";" in line.replace("#59;", "")]


def test_each_cutover_participant_is_declared() -> None:
    declared = {participant for participant, _ in diagrams.CUTOVER_PARTICIPANTS}
    messages = [line.strip() for line in cutover_sequence().splitlines() if "->>" in line]
    for message in messages:
        sender, receiver = re.split(r"-->>|->>", message.split(":")[0])
        assert {sender, receiver} <= declared
    assert len(CUTOVER_STEPS) > 5


# --- the documentation's blocks ------------------------------------------------------------

DOCUMENT = """# Title

Prose before, which names `<!-- diagram: phase 1 -->` in passing: not a block.

<!-- diagram: phase 1 -->
```mermaid
flowchart LR
    old --> content
```
<!-- /diagram -->

Prose between.

<!-- diagram: cutover -->
<!-- /diagram -->

Prose after.
"""


def test_the_writer_replaces_only_the_marker_blocks() -> None:
    written, states = rewrite(DOCUMENT)
    assert [(state.name, state.line, state.current) for state in states] == [
        ("phase 1", 5, False),
        ("cutover", 14, False),
    ]
    expected = DOCUMENT.replace(
        "```mermaid\nflowchart LR\n    old --> content\n```\n",
        f"```mermaid\n{phase_diagram(1)}\n```\n",
    ).replace(
        "<!-- diagram: cutover -->\n<!-- /diagram -->",
        f"<!-- diagram: cutover -->\n```mermaid\n{cutover_sequence()}\n```\n<!-- /diagram -->",
    )
    assert written == expected


def test_the_writer_is_idempotent() -> None:
    written, _ = rewrite(DOCUMENT)
    again, states = rewrite(written)
    assert again == written
    assert [state.current for state in states] == [True, True]


def test_a_text_without_markers_is_left_alone() -> None:
    text = "# Nothing here\n\n```mermaid\nflowchart LR\n    a --> b\n```\n"
    assert rewrite(text) == (text, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- diagram: phase 9 -->\n<!-- /diagram -->\n", r"guide.md:1: no diagram is called 'phase 9'"),
        ("x\n<!-- diagram: the whole thing -->\n<!-- /diagram -->\n", "guide.md:2: no diagram is called"),
        ("<!-- diagram: phase 1 -->\ntext\n", "guide.md:1: .* has no `<!-- /diagram -->`"),
        (
            "<!-- diagram: phase 1 -->\n<!-- diagram: phase 2 -->\n<!-- /diagram -->\n",
            "guide.md:1: .* has no `<!-- /diagram -->`",
        ),
    ],
)
def test_a_marker_the_writer_cannot_read_is_an_error(text: str, message: str) -> None:
    with pytest.raises(DiagramError, match=message):
        rewrite(text, path=Path("guide.md"))


def test_check_fails_on_a_stale_block_and_write_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    guide, other = tmp_path / "guide.md", tmp_path / "other.md"
    guide.write_text(DOCUMENT)
    other.write_text(rewrite(DOCUMENT)[0])

    assert diagrams.main(["--check", str(guide), str(other)]) == 1
    err = capsys.readouterr().err
    assert "guide.md:5: the diagram 'phase 1' is stale" in err
    assert "guide.md:14: the diagram 'cutover' is stale" in err
    assert "other.md" not in err
    assert "python -m snappy_devstack.diagrams --write guide.md" in err
    assert guide.read_text() == DOCUMENT  # a check changes nothing

    assert diagrams.main(["--write", str(guide)]) == 0
    assert guide.read_text() == other.read_text()
    assert diagrams.main(["--check", str(guide), str(other)]) == 0
    assert "2 files, 4 blocks, all current" in capsys.readouterr().out


def test_check_fails_when_the_code_changes_under_a_written_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(rewrite(DOCUMENT)[0])
    assert diagrams.main(["--check", str(guide)]) == 0
    monkeypatch.setitem(routing.PHASES[1], RouteGroupName.PAGES, PartName.WEB_UI)
    assert diagrams.main(["--check", str(guide)]) == 1


def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(DOCUMENT)
    command = [sys.executable, "-m", "snappy_devstack.diagrams", "--check", str(guide)]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 1, checked.stderr
    assert "the diagram 'phase 1' is stale" in checked.stderr
    assert "--write" in checked.stderr


def test_a_marker_it_cannot_read_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unreadable = tmp_path / "unreadable.md"
    unreadable.write_text("<!-- diagram: phase 1 -->\n")
    assert diagrams.main(["--write", str(unreadable)]) == 2
    assert "has no `<!-- /diagram -->`" in capsys.readouterr().err
    assert unreadable.read_text() == "<!-- diagram: phase 1 -->\n"


def test_with_no_file_named_it_reads_the_tracked_docs_and_readme() -> None:
    files = default_files()
    assert REPOSITORY_ROOT / "README.md" in files
    assert REPOSITORY_ROOT / "docs" / "migration-guide.md" in files
    assert all(path.parent in (REPOSITORY_ROOT, REPOSITORY_ROOT / "docs") for path in files)
    assert all(path.suffix == ".md" for path in files)


def test_every_diagram_in_the_documentation_is_current() -> None:
    files = default_files()
    # The documentation was read: with no file found, nothing would be checked and all would pass.
    assert REPOSITORY_ROOT / "README.md" in files
    assert REPOSITORY_ROOT / "docs" / "migration-guide.md" in files
    stale = [
        f"{state.path.relative_to(REPOSITORY_ROOT)}:{state.line} ({state.name})"
        for state in check_files(files)
        if not state.current
    ]
    assert not stale, (
        f"stale diagrams: {', '.join(stale)}; run `.venv/bin/python -m snappy_devstack.diagrams --write`"
    )
