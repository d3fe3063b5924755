"""`snappy cutover`: a running strangler stack walks its phases under writes, losing none.

One stack (`snappy up --stack strangler --phase 0 --seed`, embedded PostgreSQL and S3)
walks 0 -> 1 -> 2 -> 3 and back to 0 with `snappy cutover` while a client keeps signing
users up and uploading photos through the edge. Every write is either acknowledged or
refused with the freeze's 503 (Retry-After, problem document); every acknowledged one is
readable at the end of each way, from whichever part owns it then: the services at
phase 3, the monolith again at phase 0. A cutover that is not one phase away, that finds
a difference in the moving data no change-log entry explains, or that finds the edge and
the monolith's database in different phases, is refused with one line and changes nothing.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.images import image_bytes
from tests.strangler.conftest import StranglerStack, running_strangler, snappy

PASSWORD = "cutover-password"
PICTURE = image_bytes()
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


@dataclass
class Writes:
    """What the writing client saw: acknowledged writes, the freeze's refusals, anything else."""

    users: list[str] = field(default_factory=list)
    photos: list[tuple[str, int]] = field(default_factory=list)
    frozen: int = 0
    unexpected: list[str] = field(default_factory=list)


def keep_writing(edge_url: str, stop: threading.Event, writes: Writes) -> None:
    """Sign a user up, log in and upload a photo, again and again, until `stop`."""
    with httpx.Client(base_url=edge_url, timeout=30) as client:
        while not stop.is_set():
            username = f"cut{secrets.token_hex(4)}"
            signed_up = client.post(
                "/api/v1/users", json={"username": username, "password": PASSWORD, "display_name": username}
            )
            if not _acknowledged(signed_up, writes):
                continue
            writes.users.append(username)
            issued = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
            if not _acknowledged(issued, writes):
                continue
            token = issued.json()["access_token"]
            uploaded = client.post(
                "/api/v1/photos",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("cut.jpg", PICTURE, "image/jpeg")},
                data={"caption": username},
            )
            if _acknowledged(uploaded, writes):
                writes.photos.append((username, uploaded.json()["id"]))


def _acknowledged(response: httpx.Response, writes: Writes) -> bool:
    if response.status_code in {200, 201}:
        return True
    frozen = (
        response.status_code == 503
        and response.headers.get("Retry-After") == "1"
        and response.headers.get("Content-Type") == "application/problem+json"
        and "paused while they move" in response.json().get("detail", "")
    )
    if frozen:
        writes.frozen += 1
    else:
        writes.unexpected.append(
            f"{response.request.method} {response.request.url.path}: {response.status_code}"
        )
    return False


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
) -> Writes:
    """`snappy cutover --to N` for each of `phases` in turn while a client keeps writing."""
    writes = Writes()
    stop = threading.Event()
    writer = threading.Thread(target=keep_writing, args=(stack.edge_url, stop, writes))
    writer.start()
    freezes: list[str] = []
    try:
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
    finally:
        stop.set()
        writer.join()
    record_property(f"freezes to {phases}", ", ".join(freezes))
    record_property(f"writes refused by the freezes to {phases}", writes.frozen)
    assert writes.unexpected == []
    assert writes.users, "the writer acknowledged nothing"
    return writes


def assert_every_write_is_readable(edge_url: str, writes: Writes) -> None:
    """Each user logs in with the password it signed up with, and gets its photo's bytes."""
    photos = dict(writes.photos)
    with httpx.Client(base_url=edge_url, timeout=30) as client:
        for username in writes.users:
            issued = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
            assert issued.status_code == 201, (username, issued.text)
            if username in photos:
                authorization = {"Authorization": f"Bearer {issued.json()['access_token']}"}
                content = client.get(f"/api/v1/photos/{photos[username]}/content", headers=authorization)
                assert content.status_code == 200, (username, photos[username])
                assert content.content == PICTURE
