"""The rehearsal's summary block and its verdicts, from figures made up here."""

from __future__ import annotations

from pathlib import Path

from snappy_devstack.rehearsal import (
    MigrationOutcome,
    RehearsalSummary,
    ScenarioParity,
    render_summary,
    run_scenario_parity,
)
from snappy_migration.verify import ObjectInventory, TableResult, VerifyReport

_REPORT = Path("/state/migration-report.json")


def _outcome(*, ok: bool = True) -> MigrationOutcome:
    users = TableResult("users", "user-service.users", source_rows=3, target_rows=3 if ok else 2)
    report = VerifyReport([users], [], ObjectInventory(checked=24), pending_changes=0)
    return MigrationOutcome(
        rows={"users": 3, "photos": 12, "shares": 6},
        changes_synced=0,
        objects=24,
        report=report,
        report_path=_REPORT,
    )


def _summary(**changes: object) -> RehearsalSummary:
    summary = RehearsalSummary(
        monolith_url="http://127.0.0.1:8000",
        microservices_url="http://127.0.0.1:8001",
        usernames=("alice", "bob", "carol"),
        password="snappy-demo-password",
        migration=_outcome(),
        users_compared=3,
        scenario=ScenarioParity("passed", "3 passed in 6.1s"),
    )
    for name, value in changes.items():
        setattr(summary, name, value)
    return summary


def test_a_rehearsal_where_everything_passed() -> None:
    summary = _summary()
    text = "\n".join(render_summary(summary))
    assert summary.ok
    assert "rows users 3, photos 12, shares 6; 0 changes synced; objects copied 24" in text
    assert f"verification:    passed (report: {_REPORT})" in text
    assert "data parity:     3 users compared, 0 differences" in text
    assert "scenario parity: passed (3 passed in 6.1s)" in text
    assert "http://127.0.0.1:8000" in text
    assert "http://127.0.0.1:8001" in text
    assert "alice, bob, carol (password: snappy-demo-password)" in text
    assert text.endswith("Every check passed. Both stacks keep running; press Ctrl-C to stop.")


def test_each_failed_check_fails_the_rehearsal_and_is_named() -> None:
    failures = {
        "verification": _summary(migration=_outcome(ok=False)),
        "data parity": _summary(view_differences=["alice: GET /api/v1/feed (page 1): status 200 != 503"]),
        "scenario parity": _summary(scenario=ScenarioParity("failed", "1 failed, 2 passed")),
        "migration": _summary(migration=None, migration_error="bucket 'snappy-photos' does not exist"),
    }
    for check, summary in failures.items():
        text = "\n".join(render_summary(summary))
        assert not summary.ok, check
        assert "exits with status 1" in text, check
    assert "verification:    FAILED" in "\n".join(render_summary(failures["verification"]))
    data_parity = render_summary(failures["data parity"])
    assert "  data parity:     3 users compared, 1 difference" in data_parity
    assert "    alice: GET /api/v1/feed (page 1): status 200 != 503" in data_parity
    no_migration = "\n".join(render_summary(failures["migration"]))
    assert "migration:       FAILED: bucket 'snappy-photos' does not exist" in no_migration
    assert "data parity:     skipped (the migration failed)" in no_migration


def test_scenario_parity_is_skipped_without_the_tests_folder(tmp_path: Path) -> None:
    outcome = run_scenario_parity(
        "http://127.0.0.1:8000", "http://127.0.0.1:8001", log_path=tmp_path / "parity.log", root=None
    )
    assert outcome == ScenarioParity("skipped", "no tests folder")
    assert outcome.ok
    text = "\n".join(render_summary(_summary(scenario=outcome)))
    assert "scenario parity: skipped (no tests folder)" in text


def test_many_differences_are_counted_but_not_all_listed() -> None:
    differences = [f"alice: GET /api/v1/photos/{number}: status 200 != 404" for number in range(25)]
    lines = render_summary(_summary(view_differences=differences))
    assert "  data parity:     3 users compared, 25 differences" in lines
    assert "    alice: GET /api/v1/photos/19: status 200 != 404" in lines
    assert "    alice: GET /api/v1/photos/20: status 200 != 404" not in lines
    assert "    ... and 5 more" in lines
