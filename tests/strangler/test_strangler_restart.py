"""A strangler stack started again on its own data: it resumes at its phase, and refuses another.

The ownership phase is recorded in the monolith's database, which outlives the stack
(`snappy up` keeps its data in the state folder). A second start at the same phase keeps
every write made in the first, the ones only user-service holds included; a start at
another phase is refused with one line saying why, before anything starts, since only a
cutover may move the data and the ownership together.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import httpx

from tests.strangler.conftest import STOP_TIMEOUT_SECONDS, running_strangler, start_strangler

_PASSWORD = "correct-horse-battery"


def test_a_restart_resumes_at_the_recorded_phase_and_refuses_another(tmp_path: Path) -> None:
    username = f"kept_{secrets.token_hex(4)}"
    with running_strangler(1, tmp_path, seed=False) as first:
        with httpx.Client(base_url=first.edge_url, timeout=15) as http:
            created = http.post(
                "/api/v1/users", json={"username": username, "password": _PASSWORD, "display_name": "Kept"}
            )
            assert created.status_code == 201, created.text
        assert "data:    the monolith's data moved to the emptied service stores" in first.output()

    process, refused = start_strangler(2, tmp_path, seed=False)
    try:
        status = process.wait(timeout=STOP_TIMEOUT_SECONDS * 3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    assert status == 1
    said = refused.output()
    assert "the data is owned as of phase 1" in said
    assert "start with --phase 1, then move with `snappy cutover --to 2`" in said
    assert "Starting user-service" not in said  # refused before any part started

    with running_strangler(1, tmp_path, seed=False) as second:
        assert "data:    resumed at phase 1:" in second.output()
        assert "verify:  passed at phase 1" in second.output()
        # The user only user-service held is still there, and logs in through the edge.
        with httpx.Client(base_url=second.edge_url, timeout=15) as http:
            token = http.post("/api/v1/tokens", json={"username": username, "password": _PASSWORD})
            assert token.status_code == 201, token.text
        assert second.query("user_service", "SELECT count(*) FROM users WHERE username = %s", username) == [
            (1,)
        ]
