"""A backfill killed with SIGKILL at random points resumes to exactly the result of a clean run; Ctrl-C
stops one with its work checkpointed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psycopg

from tests.migration.data.conftest import (
    MigrationStores,
    StoresFactory,
    execute,
    interrupt,
    run_migrate,
    seed_monolith,
    source_snapshot,
    start_to_interrupt,
    target_snapshot,
    wait_for,
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
    # A user of id 200 written on the target in a transaction left open: the chunk of ids 191
    # to 200 waits for that transaction, so Ctrl-C lands mid-table, inside a statement.
    with psycopg.connect(stores.users_url) as holding_id_200:
        holding_id_200.execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES (200, 'held', 'H', 'x')"
        )
        process = start_to_interrupt(stores, "backfill", "--chunk-rows", "10")
        wait_for(lambda: waits_for_a_lock(stores.users_url), "the backfill waiting for id 200")
        _, errors = interrupt(process)
        holding_id_200.rollback()

    assert process.returncode == 130, errors
    assert "interrupted; what was done is checkpointed" in errors
    assert "again to resume" in errors
    assert checkpoint_positions(stores) == [("rows:users", 190, False)]
    assert run_migrate(stores, "backfill").returncode == 0
    assert run_migrate(stores, "verify").returncode == 0


def waits_for_a_lock(url: str) -> bool:
    """Whether a `snappy migrate` session on the database at `url` waits for a lock."""
    waiting = execute(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'snappy-migrate' AND wait_event_type = 'Lock'",
    )
    return bool(waiting[0][0])
