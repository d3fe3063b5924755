"""`snappy cutover`: a running strangler stack walks its phases under writes, losing none.

One stack (`snappy up --stack strangler --phase 0 --seed`, embedded PostgreSQL and S3)
walks 0 -> 1 -> 2 -> 3 and back to 0 with `snappy cutover` while a client keeps signing
users up, uploading and sharing photos through the edge (snappy_devstack.edge_workload).
Every write is either acknowledged or refused with the freeze's 503 (Retry-After, problem
document); every acknowledged one is readable at the end of each way, from whichever part
owns it then: the services at phase 3, the monolith again at phase 0. A cutover that is
not one phase away, that finds a difference in the moving data no change-log entry
explains, or that finds the edge and the monolith's database in different phases, is
refused with one line and changes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest

from snappy_devstack.edge_workload import WORKLOAD_PASSWORD, EdgeWorkload, workload_picture, workload_through
from tests.strangler.conftest import StranglerStack, running_strangler, snappy

# pytest's `record_property` fixture: a figure kept in the JUnit report.
RecordProperty = Callable[[str, object], None]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StranglerStack]:
    """The strangler stack at phase 0 with the sample data; every part runs, standing by."""
    with running_strangler(0, tmp_path_factory.mktemp("cutover"), seed=True) as running:
        yield running


def snappy_command(stack: StranglerStack, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*snappy(), *arguments, "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        cwd=stack.workdir,
        timeout=300,
        check=False,
    )


def test_a_cutover_is_refused_unless_one_phase_away_with_the_data_verified_and_the_phases_together(
    stack: StranglerStack,
) -> None:
    far = snappy_command(stack, "cutover", "--to", "2")
    assert far.returncode == 2
    assert "refused: one phase at a time: from phase 0, go to -1 or 1" in far.stderr

    # A user only user-service has, at phase 0: no change-log entry explains it.
    stray = 900_000_001
    stack.query(
        "user_service",
        "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, 'stray', 'Stray', '!')",
        stray,
    )
    try:
        differs = snappy_command(stack, "cutover", "--to", "1")
    finally:
        stack.query("user_service", "DELETE FROM users WHERE id = %s", stray)
    assert differs.returncode == 2
    assert f"refused: the users data differs at phase 0: users ids [{stray}]" in differs.stderr
    assert '"phase": 0' in snappy_command(stack, "phase", "status", "--json").stdout

    # The edge moved by hand, the data not: the cutover will not guess which is right.
    assert snappy_command(stack, "phase", "set", "1").returncode == 0
    try:
        apart = snappy_command(stack, "cutover", "--to", "2")
        assert apart.returncode == 2
        assert (
            "the edge routes by phase 1 but the monolith's database records ownership phase 0" in apart.stderr
        )
    finally:
        assert snappy_command(stack, "phase", "set", "0").returncode == 0


def test_the_stack_walks_to_phase_3_and_back_under_writes_and_every_acknowledged_write_is_kept(
    stack: StranglerStack, record_property: RecordProperty
) -> None:
    walk = {3: (1, 2, 3), 0: (2, 1, 0)}
    for end, phases in walk.items():
        writes = walk_under_writes(stack, phases, record_property)
        status = snappy_command(stack, "phase", "status", "--json")
        assert f'"phase": {end}' in status.stdout
        assert_every_write_is_readable(stack.edge_url, writes)
    # Owned by the monolith again: the users signed up last are in its own table, with their hash.
    assert stack.query(
        "monolith",
        "SELECT count(*) FROM users WHERE username = %s AND password_hash <> '!'",
        writes.users[-1],
    ) == [(1,)]


def walk_under_writes(
    stack: StranglerStack, phases: tuple[int, ...], record_property: RecordProperty
) -> EdgeWorkload:
    """`snappy cutover --to N` for each of `phases` in turn while a client keeps writing."""
    freezes: list[str] = []
    with workload_through(stack.edge_url) as writes:
        for phase in phases:
            moved = snappy_command(stack, "cutover", "--to", str(phase))
            assert moved.returncode == 0, moved.stdout + moved.stderr
            [summary] = [
                line
                for line in moved.stdout.splitlines()
                if line.startswith("phase ") and f"-> {phase}:" in line
            ]
            assert "verify passed" in summary or "no data moves with it" in summary
            freezes.append(summary.split("writes frozen for ")[1].split(";")[0])
    tally = writes.tally()
    record_property(f"freezes to {phases}", ", ".join(freezes))
    record_property(f"writes refused by the freezes to {phases}", tally.frozen)
    assert tally.unexpected == ()
    assert writes.users, "the writer acknowledged nothing"
    return writes


def assert_every_write_is_readable(edge_url: str, writes: EdgeWorkload) -> None:
    """Each user logs in with the password it signed up with, gets its photo's bytes and its shares."""
    photos = dict(writes.photos)
    shared_with = dict(writes.shares)
    with httpx.Client(base_url=edge_url, timeout=30) as client:
        for username in writes.users:
            issued = client.post("/api/v1/tokens", json={"username": username, "password": WORKLOAD_PASSWORD})
            assert issued.status_code == 201, (username, issued.text)
            if username in photos:
                photo_id = photos[username]
                authorization = {"Authorization": f"Bearer {issued.json()['access_token']}"}
                content = client.get(f"/api/v1/photos/{photo_id}/content", headers=authorization)
                assert content.status_code == 200, (username, photo_id)
                assert content.content == workload_picture()
                if photo_id in shared_with:
                    shares = client.get(f"/api/v1/photos/{photo_id}/shares", headers=authorization)
                    assert shares.status_code == 200, (username, photo_id)
                    names = [share["username"] for share in shares.json()["items"]]
                    assert shared_with[photo_id] in names, (username, photo_id, names)
