"""`snappy rehearse --phased`: its table, verdicts, figures and walk from made-up steps; its client tally."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx

from snappy_devstack.edge_workload import WorkloadTally, is_freeze_refusal
from snappy_devstack.phased_rehearsal import (
    WALK,
    PhasedRehearsal,
    StepChecks,
    StepOutcome,
    render_table,
    walk_the_phases,
)

_GROUPS = {1: "users and tokens", 2: "photos, shares, feed", 3: "web pages", 4: "none: monolith retired"}
_FREEZE_DETAIL = "Writes to users and tokens are paused while they move; try again in a moment"


def _step(from_phase: int, to_phase: int, **changes: object) -> StepOutcome:
    """A step that passed, with figures of the kind a real walk prints."""
    forward = to_phase > from_phase
    step = StepOutcome(
        from_phase,
        to_phase,
        _GROUPS[max(from_phase, to_phase)] if forward or to_phase < 3 else "none: monolith back",
        seconds=4.25,
        freeze_seconds=0.512,
        changes_synced=3 if forward else 0,
        moved_back={} if forward else {"users rows": 41, "objects": 24},
        verify="none" if max(from_phase, to_phase) == 3 else "passed",
        client=WorkloadTally(requests=120, acknowledged=117, frozen=3),
        checks=StepChecks(to_phase, verified=True, browse_ok=True, browse_reads=69),
    )
    for name, value in changes.items():
        setattr(step, name, value)
    return step


def _rehearsal(steps: list[StepOutcome] | None = None) -> PhasedRehearsal:
    walked = steps if steps is not None else [_step(start, end) for start, end in WALK]
    return PhasedRehearsal("http://127.0.0.1:8000", ("alice", "bob", "carol"), walked)


def _cells(line: str) -> list[str]:
    """A row's cells: the columns are separated by two spaces or more."""
    return [cell.strip() for cell in line.split("  ") if cell.strip()]


def test_a_walk_where_every_step_passed_has_a_row_per_step_and_a_total() -> None:
    rehearsal = _rehearsal()
    lines = render_table(rehearsal)

    assert rehearsal.ok
    header, rule, *rows, closing_rule, total = lines
    assert _cells(header) == [
        "step",
        "route group moved",
        "freeze (s)",
        "synced / moved back",
        "verify",
        "data after",
        "requests",
        "freeze 503s",
        "errors",
        "browse",
        "step (s)",
    ]
    assert set(rule.replace(" ", "")) == {"-"}
    assert rule == closing_rule
    assert [row.split("  ")[0] for row in rows] == [
        "0 -> 1",
        "1 -> 2",
        "2 -> 3",
        "3 -> 4",
        "4 -> 3",
        "3 -> 2",
        "2 -> 1",
        "1 -> 0",
    ]
    assert _cells(rows[0]) == [
        "0 -> 1",
        "users and tokens",
        "0.512",
        "3 synced",
        "passed",
        "passed",
        "120",
        "3",
        "0",
        "OK (69 reads)",
        "4.2",
    ]
    # The pages carry no data of their own: their cutover has no verify, the data after it has.
    assert _cells(rows[2])[3:6] == ["-", "none", "passed"]
    # Phase 4 retires the monolith's process and moves no route group.
    assert _cells(rows[3])[1] == "none: monolith retired"
    assert _cells(rows[4])[1] == "none: monolith back"
    assert _cells(rows[7])[3] == "back: users 41, objects 24"
    assert _cells(total) == ["total", "960", "24", "0", "34.0"]
    # Every row is as wide as the header: the columns line up.
    assert len({len(line) for line in [header, rule]}) == 1
    assert all(len(row) <= len(header) for row in rows)


def test_the_figures_right_align_under_their_headers() -> None:
    header, _rule, first, *_rest = render_table(_rehearsal())
    for column, value in (("freeze (s)", "0.512"), ("requests", "120"), ("step (s)", "4.2")):
        end = header.index(column) + len(column)
        assert first[end - len(value) : end] == value


def test_unexpected_client_answers_fail_their_step_and_are_listed_under_the_table() -> None:
    unexpected = tuple(f"POST /api/v1/photos: 500 (#{number})" for number in range(7))
    failing = _step(1, 2, client=WorkloadTally(requests=50, acknowledged=43, frozen=0, unexpected=unexpected))
    rehearsal = _rehearsal([_step(0, 1), failing, *[_step(a, b) for a, b in WALK[2:]]])

    lines = render_table(rehearsal)

    assert not failing.ok
    assert not rehearsal.ok
    row = next(line for line in lines if line.startswith("1 -> 2"))
    assert _cells(row)[6:9] == ["50", "0", "7"]
    problems = [line for line in lines if line.startswith("1 -> 2: client:")]
    assert problems[:5] == [f"1 -> 2: client: {answer}" for answer in unexpected[:5]]
    assert problems[5] == "1 -> 2: client: ... and 2 more"


def test_a_failed_check_fails_its_step_and_says_what_failed() -> None:
    data = _step(0, 1, checks=StepChecks(1, verified=False, verify_problem="users ids [7]", browse_ok=True))
    browsing = _step(
        1, 2, checks=StepChecks(2, verified=True, browse_ok=False, browse_lines=["alice: cannot log in"])
    )
    frozen_verify = _step(2, 1, verify="FAILED")
    rehearsal = _rehearsal([data, browsing, _step(2, 3), _step(3, 2), frozen_verify, _step(1, 0)])

    lines = render_table(rehearsal)

    assert [step.ok for step in rehearsal.steps] == [False, False, True, True, False, True]
    assert "0 -> 1: the data at phase 1 does not verify: users ids [7]" in lines
    assert "1 -> 2: browse: alice: cannot log in" in lines
    assert "2 -> 1: the verify in the freeze FAILED (its report: cutover-*-frozen.json)" in lines
    assert _cells(next(line for line in lines if line.startswith("0 -> 1")))[5] == "FAILED"
    assert _cells(next(line for line in lines if line.startswith("1 -> 2")))[9] == "FAILED"


def test_a_refused_cutover_turns_the_walk_back_and_fails_it() -> None:
    taken: list[tuple[int, int]] = []

    def take_step(from_phase: int, to_phase: int) -> StepOutcome:
        taken.append((from_phase, to_phase))
        if (from_phase, to_phase) == (1, 2):
            return StepOutcome(1, 2, _GROUPS[2], failure="refused: the photos data differs at phase 1")
        return _step(from_phase, to_phase)

    rehearsal = _rehearsal(walk_the_phases(take_step))
    lines = render_table(rehearsal)

    assert taken == [(0, 1), (1, 2), (1, 0)]
    assert rehearsal.phase == 0
    assert not rehearsal.ok
    refused = next(line for line in lines if line.startswith("1 -> 2"))
    assert _cells(refused)[2:6] == ["-", "-", "refused", "-"]
    assert "1 -> 2: the cutover was refused: the photos data differs at phase 1" in lines


def test_a_walk_stops_where_a_step_back_cannot_move_the_stack() -> None:
    def take_step(from_phase: int, to_phase: int) -> StepOutcome:
        if (from_phase, to_phase) == (2, 1):
            return StepOutcome(
                2, 1, _GROUPS[2], freeze_seconds=0.3, failure="undone: the edge did not answer"
            )
        return _step(from_phase, to_phase)

    rehearsal = _rehearsal(walk_the_phases(take_step))

    assert [(step.from_phase, step.to_phase) for step in rehearsal.steps] == list(WALK[:7])
    assert rehearsal.phase == 2
    assert not rehearsal.ok


def test_the_figures_hold_every_step_and_the_client_totals(tmp_path: Path) -> None:
    rehearsal = _rehearsal()
    path = tmp_path / "rehearsal-phased.json"

    rehearsal.write(path)
    figures = json.loads(path.read_text())

    assert figures["ok"] is True
    assert figures["phase_now"] == 0
    assert figures["client_totals"] == {"requests": 960, "frozen_503": 24, "errors": 0}
    assert [step["step"] for step in figures["steps"]] == [f"{a} -> {b}" for a, b in WALK]
    first, *_rest, last = figures["steps"]
    assert first["route_group"] == "users and tokens"
    assert first["freeze_seconds"] == 0.512
    assert first["changes_synced"] == 3
    assert first["moved_back"] is None
    assert first["verify"] == "passed"
    assert first["client"] == {
        "requests": 120,
        "acknowledged": 117,
        "frozen_503": 3,
        "errors": 0,
        "unexpected": [],
        "resent": 0,
    }
    assert first["checks"]["verified"] is True
    assert first["checks"]["browse_reads"] == 69
    assert last["moved_back"] == {"users rows": 41, "objects": 24}
    assert last["changes_synced"] is None


def test_a_tally_since_an_earlier_one_counts_what_happened_between() -> None:
    earlier = WorkloadTally(requests=10, acknowledged=8, frozen=1, unexpected=("GET /a: 500",))
    later = WorkloadTally(requests=25, acknowledged=20, frozen=3, unexpected=("GET /a: 500", "GET /b: 502"))

    assert later.since(earlier) == WorkloadTally(
        requests=15, acknowledged=12, frozen=2, unexpected=("GET /b: 502",)
    )


def test_only_the_edge_s_declared_freeze_counts_as_a_freeze_refusal() -> None:
    def answer(status: int, headers: dict[str, str], detail: str = _FREEZE_DETAIL) -> httpx.Response:
        request = httpx.Request("POST", "http://edge/api/v1/users")
        return httpx.Response(status, headers=headers, json={"detail": detail}, request=request)

    declared = {"Retry-After": "1", "Content-Type": "application/problem+json"}
    assert is_freeze_refusal(answer(503, declared))
    # A 503 of a part that does not answer, a freeze without Retry-After, another status: not a freeze.
    assert not is_freeze_refusal(answer(503, declared, detail="photo-service is not answering"))
    assert not is_freeze_refusal(answer(503, {"Content-Type": "application/problem+json"}))
    assert not is_freeze_refusal(answer(500, declared))


def test_the_phased_rehearsal_on_a_port_in_use_fails_with_one_line_and_starts_nothing(
    snappy_command: list[str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        result = subprocess.run(
            [*snappy_command, "rehearse", "--phased", "--port", str(port), "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 2
    assert result.stderr == (
        f"snappy rehearse: port {port} on 127.0.0.1 (for the strangler stack) is already in use;"
        " choose another with --port\n"
    )
    assert not state_dir.exists()
