"""How long `snappy cutover`'s write freeze lasts at scale, forward and back.

    .venv/bin/python benchmarks/cutover.py [--photos N] [--quiet]

PostgreSQL and S3 come from `snappy_devstack.backing`, as for the app and the tests
(`SNAPPY_DEV_POSTGRES_URL` and `SNAPPY_DEV_S3_*` are honoured; otherwise containers or
embedded servers are started). The run starts a strangler stack at phase 0 with devstack's
own machinery (`plan_stacks("strangler", port, phase=0)` and `running_stacks`, as `snappy
up --stack strangler --phase 0` does), on free ports and on databases and buckets named for
this run. It seeds the monolith's database in SQL (`snappy_devstack.bulk_seed`: N photos,
N/20 users, about N/2 shares) and puts a small object (`OBJECT_BYTES` bytes) in the
monolith's bucket for each key a photo names (two a photo), so the cutover's object copy
and its verification by listing cost what they cost per key. Then it runs the real
`snappy_devstack.cutover.cutover` six times: 0 -> 1 -> 2 -> 3 -> 2 -> 1 -> 0.

For each step it prints the total duration, the freeze's, and where the freeze's time goes:
the wait for writes in flight, the final sync, the hand-over of the group's state, the
verification of the moving data, the move back, the ownership record, the edge's flip and
the thaw. The freeze's steps are timed by wrapping the functions the cutover module calls
(`sync`, `hand_over_state`, `verify_at_phase`, `move_back`, `backfill`, and the objects'
check or copy before the freeze, `check_objects` and `copy_objects_back`), which changes
nothing of what they do; the rest comes from the cutover's own Timeline. It prints the
peak memory of this process and, as its last line, `freeze_max=X.XX`: the longest freeze,
in seconds. Everything it created is dropped at the end, also after a failure or Ctrl-C.
Exit status: 0 done; 1 a cutover was refused or undone; 2 a backing service or the stack
failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import psycopg

import snappy_devstack.cutover as cutover_module
from snappy_devstack.backing import BackingServices, provide_backing_services
from snappy_devstack.bulk_seed import SHARES_PER_PHOTO, USERS_PER_PHOTO, seed_monolith_rows
from snappy_devstack.cutover import CutoverResult, Refused, Timeline, Undone, cutover
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.local_stack import LocalStack
from snappy_devstack.postgres import database_url
from snappy_devstack.processes import cleanup_that_survives_interrupts, free_ports
from snappy_devstack.stack import (
    Stack,
    check_installed,
    drop_stores_at_exit,
    ensure_secrets,
    local_stack_description,
    plan_stacks,
    running_stacks,
    with_own_stores,
)
from snappy_migration.backfill import backfill
from snappy_migration.errors import MigrationError
from snappy_migration.phases import verify_at_phase
from snappy_migration.progress import Progress
from snappy_migration.reverse import copy_objects_back, hand_over_state, move_back
from snappy_migration.stores import s3_client
from snappy_migration.sync import sync
from snappy_migration.verify import check_objects
from snappy_topology import PartName

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPOSITORY_ROOT / ".snappy" / "benchmark"
DEFAULT_PHOTOS = 100_000
# The walk `snappy rehearse --phased` takes: every live phase, forward, then back.
STEPS = ((0, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 0))
# `snappy cutover`'s own default; nothing writes during the run, so the lag is 0 anyway.
MAX_LAG = 10_000
# Small objects: copying and verifying cost per key (a CopyObject, a listed entry), not per
# byte, for single-part objects whose ETags are MD5s (benchmarks/objects.py measures bytes).
OBJECT_BYTES = 64
PUT_THREADS = 32
KEYS_PER_FETCH = 10_000

EXIT_UNDONE = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130

_Parameters = ParamSpec("_Parameters")
_Result = TypeVar("_Result")


@dataclass
class Call:
    """One call of a function the cutover module calls, timed on the Timeline's clock."""

    name: str
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Step:
    """One cutover: its result, its Timeline, the wrapped calls, and how long it took in all."""

    result: CutoverResult
    timeline: Timeline
    calls: list[Call]
    total_seconds: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.result.from_phase} -> {self.result.to_phase}"


# Where the freeze's time goes, in the order it is spent; "other" is what no part names.
FREEZE_PARTS = (
    "in flight",
    "final sync",
    "hand-over",
    "verify",
    "move back",
    "ownership",
    "edge flip",
    "thaw",
    "other",
)
# The functions timed inside the freeze, by the part of the freeze they are.
_WRAPPED = {
    "sync": "final sync",
    "hand_over_state": "hand-over",
    "verify_at_phase": "verify",
    "move_back": "move back",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    arguments = _parser().parse_args(argv)
    with cleanup_that_survives_interrupts() as cleanup:
        try:
            return _run(arguments, cleanup)
        except KeyboardInterrupt:
            _note("interrupted; stopping the stack and dropping what was created")
            return EXIT_INTERRUPTED
        except (Refused, Undone) as error:
            _note(f"the cutover did not happen: {one_line(error)}")
            return EXIT_UNDONE
        except (DevstackError, MigrationError, psycopg.Error) as error:
            _note(f"failed: {one_line(error)}")
            return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/cutover.py",
        description="Time snappy cutover's write freeze on a strangler stack, 0 -> 3 and back to 0.",
    )
    parser.add_argument(
        "--photos",
        type=_positive_int,
        default=DEFAULT_PHOTOS,
        help=f"photos to seed (default {DEFAULT_PHOTOS:,}); users are N/20, shares about N/2",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines: neither the timelines nor the bars"
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run(arguments: argparse.Namespace, cleanup: ExitStack) -> int:
    photos: int = arguments.photos
    quiet: bool = arguments.quiet
    users = max(1, round(photos * USERS_PER_PHOTO))
    shares = max(1, round(photos * SHARES_PER_PHOTO))
    tag = secrets.token_hex(4)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="cutover-", dir=STATE_DIR))
    cleanup.callback(shutil.rmtree, run_dir, ignore_errors=True)

    (edge_port,) = free_ports(1)
    # The edge's control file (the freeze, the phase) lives in this run's folder.
    [stack] = [
        with_own_stores(planned, f"snappy_benchmark_{tag}")
        for planned in plan_stacks("strangler", edge_port, state_dir=run_dir, phase=0)
    ]
    check_installed([stack])
    services = cleanup.enter_context(provide_backing_services(STATE_DIR, persistent=False))
    _note(f"PostgreSQL and S3 from {services.source}; run {tag}")
    drop_stores_at_exit(cleanup, [stack], services, note=_note)
    cleanup.enter_context(
        running_stacks(
            [stack],
            services=services,
            stack_secrets=ensure_secrets(run_dir),
            logs=run_dir / "logs",
            base_environment=os.environ,
            progress=_silent if quiet else _note,
        )
    )
    description = _own_description(stack, services)

    _note(f"seeding {photos:,} photos, {users:,} users, about {shares:,} shares")
    started = time.perf_counter()
    seeded = seed_monolith_rows(description.monolith_database_url, photos=photos, users=users, shares=shares)
    _note(f"seeded the rows in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    objects = _put_objects(description)
    put_seconds = time.perf_counter() - started
    _note(f"put {objects:,} objects of {OBJECT_BYTES} bytes in {put_seconds:.1f} s")

    load_before = os.getloadavg()[0]
    steps: list[Step] = []
    for from_phase, to_phase in STEPS:
        _note(f"snappy cutover --to {to_phase} (from phase {from_phase})")
        steps.append(_timed_cutover(description, to_phase, run_dir, quiet=quiet))
        _note(steps[-1].result.summary())
    load_after = os.getloadavg()[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    _print_figures(
        photos=photos,
        seeded=seeded,
        objects=objects,
        steps=steps,
        peak_mb=peak_mb,
        source=services.source,
        load=(load_before, load_after),
    )
    print(f"freeze_max={max(step.result.freeze_seconds for step in steps):.2f}", flush=True)
    return 0


def _own_description(stack: Stack, services: BackingServices) -> LocalStack:
    """What `snappy up` writes to stack.json, with this run's stores.

    devstack describes the strangler stack's stores by the topology's names (whatever parts
    run in its phase); this run's parts all run, under names of their own.
    """
    described = local_stack_description([stack], services)
    if described is None:
        raise DevstackError("devstack gives no description of the strangler stack")
    by_part = {server.part.name: server for server in stack.servers}

    def database(name: PartName) -> str:
        owned = by_part[name].database
        if owned is None:
            raise DevstackError(f"the strangler stack's {name} has no database")
        return database_url(services.postgres_url, owned)

    def bucket(name: PartName) -> str:
        owned = by_part[name].bucket
        if owned is None:
            raise DevstackError(f"the strangler stack's {name} has no bucket")
        return owned

    return dataclasses.replace(
        described,
        monolith_database_url=database(PartName.MONOLITH),
        user_service_database_url=database(PartName.USER_SERVICE),
        photo_service_database_url=database(PartName.PHOTO_SERVICE),
        monolith_bucket=bucket(PartName.MONOLITH),
        photo_service_bucket=bucket(PartName.PHOTO_SERVICE),
    )


def _put_objects(stack: LocalStack) -> int:
    """A small object for every key the monolith's photos name, in the monolith's bucket."""
    client = s3_client(stack.object_store)
    bucket = stack.monolith_bucket

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode().ljust(OBJECT_BYTES, b".")[:OBJECT_BYTES])

    count = 0
    with (
        psycopg.connect(stack.monolith_database_url) as connection,
        connection.cursor(name="object_keys") as cursor,
        ThreadPoolExecutor(max_workers=PUT_THREADS) as pool,
    ):
        cursor.itersize = KEYS_PER_FETCH
        cursor.execute("SELECT object_key, thumbnail_key FROM photos")
        while rows := cursor.fetchmany(KEYS_PER_FETCH):
            keys = [key for row in rows for key in row]
            for _ in pool.map(put, keys):
                count += 1
    return count


def _timed_cutover(stack: LocalStack, to_phase: int, run_dir: Path, *, quiet: bool) -> Step:
    """`cutover(stack, to_phase)`, its Timeline kept, the calls inside it timed."""
    timeline = Timeline(echo=_silent if quiet else _detail)
    calls: list[Call] = []
    with _wrapped(calls, quiet=quiet):
        started = time.monotonic()
        result = cutover(stack, to_phase, max_lag=MAX_LAG, timeline=timeline, report_dir=run_dir)
        total = time.monotonic() - started
    step = Step(result, timeline, calls, total)
    step.parts = _freeze_parts(step)
    return step


@contextmanager
def _wrapped(calls: list[Call], *, quiet: bool) -> Iterator[None]:
    """Time what the cutover module calls, by replacing its names for the block.

    The Timeline records the final sync, the hand-over and the verify as one step; the
    wrappers split them without changing what runs. With `quiet`, the progress bars of the
    backfill, the sync and the move back go nowhere.
    """
    progress: dict[str, Any] = {"progress": _silent_progress} if quiet else {}
    replaced = {
        "sync": _timer(calls, "sync", partial(sync, **progress)),
        "hand_over_state": _timer(calls, "hand_over_state", hand_over_state),
        "verify_at_phase": _timer(calls, "verify_at_phase", verify_at_phase),
        "move_back": _timer(calls, "move_back", partial(move_back, **progress)),
        "backfill": _timer(calls, "backfill", partial(backfill, **progress)),
        "check_objects": _timer(calls, "check_objects", check_objects),
        "copy_objects_back": _timer(calls, "copy_objects_back", partial(copy_objects_back, **progress)),
    }
    originals = {name: getattr(cutover_module, name) for name in replaced}
    for name, wrapper in replaced.items():
        setattr(cutover_module, name, wrapper)
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cutover_module, name, original)


def _timer(
    calls: list[Call], name: str, function: Callable[_Parameters, _Result]
) -> Callable[_Parameters, _Result]:
    def timed(*args: _Parameters.args, **kwargs: _Parameters.kwargs) -> _Result:
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append(Call(name, started, time.monotonic()))

    return timed


def _freeze_parts(step: Step) -> dict[str, float]:
    """The freeze's seconds by part: from the Timeline's events and the wrapped calls."""
    timeline, group = step.timeline, step.result.group
    at = {what: timeline.started + elapsed for elapsed, what in timeline.events}

    def when(prefix: str) -> float:
        found = [moment for what, moment in at.items() if what.startswith(prefix)]
        if not found:
            raise MigrationError(f"the cutover's timeline has no event starting {prefix!r}")
        return found[-1]

    frozen, thawed = when(f"{group}: writes frozen"), when(f"{group}: writes thawed")
    no_write_in_flight = when(f"{group}: no write in flight")
    owned = when("the monolith's database records ownership phase")
    routed = when("the edge routes by phase")
    parts = dict.fromkeys(FREEZE_PARTS, 0.0)
    parts["in flight"] = no_write_in_flight - frozen
    for call in step.calls:
        if call.name in _WRAPPED and frozen <= call.started and call.ended <= thawed:
            parts[_WRAPPED[call.name]] += call.seconds
    # The ownership record starts once the data step (or the wait, for a group with no data) ended.
    data_ended = max(
        [no_write_in_flight] + [call.ended for call in step.calls if frozen <= call.started <= thawed]
    )
    parts["ownership"] = owned - data_ended
    parts["edge flip"] = routed - owned
    parts["thaw"] = thawed - routed
    named = sum(parts.values())
    parts["other"] = max(0.0, step.result.freeze_seconds - named)
    return parts


def _print_figures(
    *,
    photos: int,
    seeded: dict[str, int],
    objects: int,
    steps: Sequence[Step],
    peak_mb: float,
    source: str,
    load: tuple[float, float],
) -> None:
    print()
    print(
        f"Snappy cutover, {photos:,} photos: "
        + ", ".join(f"{count:,} {table}" for table, count in seeded.items())
        + f"; {objects:,} objects of {OBJECT_BYTES} bytes in the monolith's bucket"
    )
    print(
        f"PostgreSQL and S3 from {source}; a strangler stack started at phase 0;"
        f" {os.cpu_count()} CPUs, load average (1 min) {load[0]:.2f} before the first cutover,"
        f" {load[1]:.2f} after the last"
    )
    print()
    print("seconds per cutover (total: the whole `snappy cutover`, preconditions included)")
    header = f"{'step':<8}{'group':<22}{'total':>8}{'freeze':>8}"
    print(header + "".join(f"{part:>11}" for part in FREEZE_PARTS))
    for step in steps:
        print(
            f"{step.label:<8}{step.result.group!s:<22}{step.total_seconds:>8.2f}"
            f"{step.result.freeze_seconds:>8.3f}"
            + "".join(f"{step.parts[part]:>11.3f}" for part in FREEZE_PARTS)
        )
    print()
    print("before the freeze (outside it: writes flow), seconds")
    print(f"{'step':<8}{'backfill':>10}{'sync':>8}{'verify':>8}{'objects':>9}{'rest':>8}")
    for step in steps:
        before = _before_freeze(step)
        print(
            f"{step.label:<8}{before['backfill']:>10.2f}{before['sync']:>8.2f}"
            f"{before['verify']:>8.2f}{before['objects']:>9.2f}{before['rest']:>8.2f}"
        )
    print()
    print(
        "in flight: the wait for the group's writes in flight; final sync: the change log's last"
        " entries; hand-over: the group's state tables; verify: the moving data's rows (and, for"
        " photos, the objects of the keys named since the objects' check before the freeze);"
        " move back: the service's rows, and the objects of photos uploaded since the copy"
        " before the freeze, back into the monolith's; objects (before the freeze): every named"
        " object compared by listing both buckets (forward), or copied back (backward);"
        " ownership: the phase recorded in the monolith's database; edge flip: the edge routing"
        " by the new phase; thaw: the freeze lifted."
    )
    print(
        f"peak memory: {peak_mb:,.1f} MB (maximum resident set of this client process, which"
        " seeded and ran every cutover; the servers' memory is not in it)"
    )


# The wrapped calls made before the freeze, by the column they count in.
_BEFORE_THE_FREEZE = {"verify_at_phase": "verify", "check_objects": "objects", "copy_objects_back": "objects"}


def _before_freeze(step: Step) -> dict[str, float]:
    """The seconds of the calls made before the freeze, by what they did; the rest of the total."""
    frozen = step.timeline.started + next(
        elapsed for elapsed, what in step.timeline.events if what.endswith("writes frozen")
    )
    spent = {"backfill": 0.0, "sync": 0.0, "verify": 0.0, "objects": 0.0}
    for call in step.calls:
        if call.ended <= frozen:
            key = {
                "verify_at_phase": "verify",
                "check_objects": "objects",
                "copy_objects_back": "objects",
            }.get(call.name, call.name)
            if key in spent:
                spent[key] += call.seconds
    rest = step.total_seconds - step.result.freeze_seconds - sum(spent.values())
    return {**spent, "rest": max(0.0, rest)}


def _silent_progress(label: str, total: int, unit: str) -> Progress:
    return Progress(label, total, unit, stream=io.StringIO())


def _silent(_line: str) -> None:
    """Progress that goes nowhere (--quiet)."""


def _detail(line: str) -> None:
    print(f"benchmark: {line}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
