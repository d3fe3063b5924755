"""A backfill killed with SIGKILL at random points resumes to exactly the result of a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from tests.migration.data.conftest import (
    MigrationStores,
    StoresFactory,
    execute,
    run_migrate,
    seed_monolith,
    source_snapshot,
    target_snapshot,
)

# Small chunks: many checkpoints, so the kills land between them and inside them.
CHUNK_ROWS = "15"
KILLS = 5
KILL_SEED = int(os.environ.get("SNAPPY_KILL_SEED", str(random.SystemRandom().randrange(1_000_000))))


def start_backfill(stores: MigrationStores) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "snappy_migration", "backfill", "--chunk-rows", CHUNK_ROWS],
        env={**os.environ, **stores.environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def checkpoint_positions(stores: MigrationStores) -> list[tuple[str, int, bool]]:
    positions: list[tuple[str, int, bool]] = []
    for url in (stores.users_url, stores.photos_url):
        exists = execute(url, "SELECT to_regclass('snappy_migration.checkpoints') IS NOT NULL")[0][0]
        if exists:
            positions += execute(
                url, "SELECT stream, last_id, finished FROM snappy_migration.checkpoints ORDER BY stream"
            )
    return positions


def work_done(stores: MigrationStores) -> int:
    """Rows and objects the checkpoints record as done."""
    done = 0
    for url in (stores.users_url, stores.photos_url):
        if execute(url, "SELECT to_regclass('snappy_migration.checkpoints') IS NOT NULL")[0][0]:
            done += execute(url, "SELECT coalesce(sum(rows), 0)::bigint FROM snappy_migration.checkpoints")[
                0
            ][0]
    return done


def kill_after(
    process: subprocess.Popen[bytes], stores: MigrationStores, threshold: int, rng: random.Random
) -> bool:
    """SIGKILL the backfill a random moment after `threshold` units are done; False if it ended first."""
    deadline = time.monotonic() + 120
    while process.poll() is None and work_done(stores) < threshold and time.monotonic() < deadline:
        time.sleep(0.01)
    # A little later, at random: inside a chunk as often as between two.
    time.sleep(rng.uniform(0, 0.05))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_a_backfill_killed_at_random_points_resumes_to_the_result_of_a_clean_run(
    stores: MigrationStores, stores_factory: StoresFactory
) -> None:
    seed_monolith(stores, users=1_000, photos=200, shares=1_000)
    clean = stores_factory.new_targets(stores)
    clean_run = run_migrate(clean, "backfill", "--chunk-rows", CHUNK_ROWS)
    assert clean_run.returncode == 0, clean_run.stderr
    total_work = work_done(clean)
    rng = random.Random(KILL_SEED)
    # Random points across the whole run, rows and objects alike, in the order the work reaches them.
    thresholds = sorted(rng.sample(range(1, total_work), KILLS))

    killed_at: list[list[tuple[str, int, bool]]] = []
    for threshold in thresholds:
        if kill_after(start_backfill(stores), stores, threshold, rng):
            killed_at.append(checkpoint_positions(stores))
    resumed = run_migrate(stores, "backfill", "--chunk-rows", CHUNK_ROWS)

    assert resumed.returncode == 0, resumed.stderr
    assert len(killed_at) >= KILLS - 1, f"seed {KILL_SEED}: only {len(killed_at)} kills landed"
    assert len({tuple(positions) for positions in killed_at}) >= 2, f"seed {KILL_SEED}: {killed_at}"
    # Same rows (the primary keys rule out duplicates) and same objects as the clean run, nothing lost.
    assert target_snapshot(stores) == target_snapshot(clean), f"seed {KILL_SEED}"
    rows = {table: contents for table, contents in target_snapshot(stores).items() if table != "objects"}
    assert rows == {
        table: contents for table, contents in source_snapshot(stores).items() if table != "objects"
    }
    assert run_migrate(stores, "verify").returncode == 0


def test_ctrl_c_leaves_a_checkpoint_and_says_how_to_resume(stores: MigrationStores) -> None:
    seed_monolith(stores, users=400, photos=40, shares=100)
    process = subprocess.Popen(
        [sys.executable, "-m", "snappy_migration", "backfill", "--chunk-rows", "10"],
        env={**os.environ, **stores.environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not checkpoint_positions(stores) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)

    assert process.returncode == 130
    assert "interrupted; what was done is checkpointed" in errors
    assert "again to resume" in errors
    assert checkpoint_positions(stores)
    assert run_migrate(stores, "backfill").returncode == 0
    assert run_migrate(stores, "verify").returncode == 0
