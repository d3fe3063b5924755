"""How fast the data migration copies, re-checks and verifies photos' objects, against the store's ceiling.

    .venv/bin/python benchmarks/objects.py [--objects N] [--size BYTES] [--threads T]
                                           [--across-endpoints M] [--quiet]

S3 is the one `SNAPPY_DEV_S3_*` names (endpoint, keys, region) when set; otherwise an
embedded SeaweedFS (`snappy_devstack.embedded.embedded_s3`) is started under
`.snappy/benchmark/` and removed afterwards. The run creates three empty buckets (the
monolith's, the ceiling's target, the tool's target), seeds the first with N objects of
BYTES bytes each (half `photos/<hex>`, half `thumbnails/<hex>.jpg`, each with its own
random content), then measures, from this one client process:

- listing: `list_objects_v2` of the seeded bucket, keys per second;
- the ceiling: a plain thread pool of T threads calling `copy_object` for every key, on
  one client with T connections: the fastest this client copies server-side;
- the copy: `snappy_migration.objects.copy_listed_objects` into a fresh bucket, with the
  sorted keys as the names the photos give (the tool's threads, T by default);
- the re-run: the same call again, with everything already there;
- the verify: `snappy_migration.verify.inventory_objects`, the object inventory of
  `snappy migrate verify`, over the same names;
- with `--across-endpoints M`: a second embedded SeaweedFS, and the first M objects
  streamed to it by the same copy (GET to PUT through this process), then re-checked.

It prints each rate, the peak memory of this process (`ru_maxrss`), whether the targets
were met, and as its last line `ratio=X.XX`: the copy's objects per second over the
ceiling's. Everything it created is deleted at the end, also after a failure or Ctrl-C.
Exit status: 0 done; 1 the copy or the verify found differences; 2 a backing service
failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from snappy_devstack.backing import BackingServiceError, create_bucket, delete_bucket
from snappy_devstack.embedded import embedded_s3
from snappy_devstack.processes import cleanup_that_survives_interrupts
from snappy_devstack.s3 import S3Endpoint
from snappy_migration.errors import MigrationError
from snappy_migration.objects import COPY_THREADS, ObjectTransfer, copy_listed_objects, list_objects
from snappy_migration.progress import Progress
from snappy_migration.stores import ObjectStore, s3_client
from snappy_migration.verify import ObjectInventory, VerifyReport, inventory_objects, render

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPOSITORY_ROOT / ".snappy" / "benchmark"
DEFAULT_OBJECTS = 100_000
DEFAULT_SIZE = 30_000
# The targets hold at this size; smaller runs print the same comparison for information.
TARGET_OBJECTS = 100_000
TARGET_RATIO = 0.8
TARGET_RERUN_KEYS_PER_SECOND = 5_000.0
TARGET_VERIFY_OF_LISTING = 0.5
TARGET_PEAK_MB = 300.0

EXIT_DIFFERENCES = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130

_S3_VARIABLES = (
    "SNAPPY_DEV_S3_ENDPOINT_URL",
    "SNAPPY_DEV_S3_ACCESS_KEY_ID",
    "SNAPPY_DEV_S3_SECRET_ACCESS_KEY",
)
_SEED_THREADS = 32
# Contents are slices of one random block, each made unique by its key: no two objects are
# equal, and seeding costs no more random bytes than one block.
_RANDOM_BLOCK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    """One timed step: what it counted, how many, and the seconds it took."""

    step: str
    count: int
    unit: str
    seconds: float

    @property
    def rate(self) -> float:
        """Units per second."""
        return self.count / max(self.seconds, 1e-9)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    arguments = _parser().parse_args(argv)
    # SIGTERM stops the run as Ctrl-C does; the buckets and servers are removed either way.
    with cleanup_that_survives_interrupts() as cleanup:
        try:
            return _run(arguments, cleanup)
        except KeyboardInterrupt:
            _note("interrupted; deleting what was created")
            return EXIT_INTERRUPTED
        except (BackingServiceError, MigrationError, BotoCoreError, ClientError) as error:
            _note(f"failed: {' '.join(str(error).split()) or type(error).__name__}")
            return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/objects.py",
        description="Time the migration's object copy, re-run and verify against a plain copy_object pool.",
    )
    parser.add_argument(
        "--objects",
        type=_positive_int,
        default=DEFAULT_OBJECTS,
        help=f"objects to seed (default {DEFAULT_OBJECTS:,})",
    )
    parser.add_argument(
        "--size",
        type=_positive_int,
        default=DEFAULT_SIZE,
        help=f"bytes per object (default {DEFAULT_SIZE:,})",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=COPY_THREADS,
        help=f"copy threads, for the ceiling and the tool alike (default {COPY_THREADS}, the tool's)",
    )
    parser.add_argument(
        "--across-endpoints",
        type=int,
        default=0,
        metavar="M",
        help="also stream the first M objects to a second embedded SeaweedFS (default 0: not measured)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines from the tool")
    return parser


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run(arguments: argparse.Namespace, cleanup: ExitStack) -> int:
    count: int = arguments.objects
    threads: int = arguments.threads
    tag = secrets.token_hex(4)
    endpoint, where = _object_store(cleanup)
    _note(f"S3 from {where}; run {tag}")
    source_bucket = _fresh_bucket(cleanup, endpoint, f"snappy-benchmark-{tag}-monolith")
    ceiling_bucket = _fresh_bucket(cleanup, endpoint, f"snappy-benchmark-{tag}-ceiling")
    target_bucket = _fresh_bucket(cleanup, endpoint, f"snappy-benchmark-{tag}-photos")

    client = _client(endpoint, connections=max(threads, _SEED_THREADS))
    _note(f"seeding {count:,} objects of {arguments.size:,} bytes on {_SEED_THREADS} threads")
    keys = _keys(count)
    seeded = _timed("seed", count, "objects", lambda: _seed(client, source_bucket, keys, arguments.size))
    _note(f"seeded in {seeded.seconds:.1f} s ({seeded.rate:,.0f} objects/s)")

    # The tool's own client (snappy_migration.stores.s3_client), as `snappy migrate` makes it;
    # the listing is timed through it too, so verify is compared with the listing it does.
    tool_client = s3_client(_as_object_store(endpoint))
    listed = _timed("listing", count, "keys", lambda: _count_listing(tool_client, source_bucket, count))
    ceiling = _timed(
        "ceiling", count, "objects", lambda: _ceiling(client, source_bucket, ceiling_bucket, keys, threads)
    )

    # The peak resident set from here on is the tool's: the seed's and the ceiling's are forgotten.
    tool_peak_measured = _reset_peak_memory()
    transfer = ObjectTransfer(
        tool_client, source_bucket, tool_client, target_bucket, server_side=True, threads=threads
    )
    progress = _silent_progress if arguments.quiet else Progress
    bar = progress("copy", count, "objects")
    started = time.perf_counter()
    first = copy_listed_objects(transfer, keys, progress=bar)
    copied = Measurement("copy", count, "objects", time.perf_counter() - started)
    bar.finish()
    bar = progress("re-run", count, "keys")
    started = time.perf_counter()
    again = copy_listed_objects(transfer, keys, progress=bar)
    rerun = Measurement("re-run", count, "keys", time.perf_counter() - started)
    bar.finish()
    started = time.perf_counter()
    inventory = inventory_objects(transfer, keys)
    verified = Measurement("verify", count, "keys", time.perf_counter() - started)

    measurements = [listed, ceiling, copied, rerun, verified]
    failures: list[str] = []
    if first.copied != count or first.absent:
        failures.append(f"the copy wrote {first.copied:,} of {count:,} objects")
    if again.copied or again.unchanged != count:
        failures.append(f"the re-run copied {again.copied:,} objects again")
    if not inventory.ok:
        failures.append("the verify found differences:\n" + _render_inventory(inventory))
    hashed = first.hashed + again.hashed
    if arguments.across_endpoints:
        measurements += _across_endpoints(
            cleanup, tool_client, source_bucket, keys[: arguments.across_endpoints], progress, failures
        )
    tool_peak_mb = _peak_memory_mb() if tool_peak_measured else None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    _print_figures(
        size=arguments.size,
        threads=threads,
        where=where,
        measurements=measurements,
        hashed=hashed,
        peak_mb=peak_mb,
        tool_peak_mb=tool_peak_mb,
    )
    for failure in failures:
        print(f"FAILED: {failure}")
    ratio = copied.rate / ceiling.rate
    _print_targets(
        count=count,
        ratio=ratio,
        rerun=rerun.rate,
        verify_of_listing=verified.rate / listed.rate,
        peak_mb=tool_peak_mb if tool_peak_mb is not None else peak_mb,
    )
    print(f"ratio={ratio:.2f}", flush=True)
    return EXIT_DIFFERENCES if failures else 0


def _timed(step: str, count: int, unit: str, work: Callable[[], object]) -> Measurement:
    started = time.perf_counter()
    work()
    return Measurement(step, count, unit, time.perf_counter() - started)


def _reset_peak_memory() -> bool:
    """Reset this process's peak resident set (Linux 4.0 and later); False where it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5\n", encoding="ascii")
    except OSError:
        return False
    return True


def _peak_memory_mb() -> float | None:
    """The peak resident set since the last reset (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _object_store(cleanup: ExitStack) -> tuple[S3Endpoint, str]:
    """The S3 the environment names, else an embedded SeaweedFS started for this run."""
    given = [os.environ.get(name, "").strip() for name in _S3_VARIABLES]
    if all(given):
        region = os.environ.get("SNAPPY_DEV_S3_REGION", "").strip() or "us-east-1"
        return S3Endpoint(given[0], region, given[1], given[2]), f"the environment ({given[0]})"
    if any(given):
        raise BackingServiceError(f"set all of {', '.join(_S3_VARIABLES)}, or none")
    return _embedded(cleanup), "an embedded SeaweedFS started for this run"


def _embedded(cleanup: ExitStack) -> S3Endpoint:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="objects-", dir=STATE_DIR)))
    return cleanup.enter_context(embedded_s3(workdir, persistent=False))


def _as_object_store(endpoint: S3Endpoint) -> ObjectStore:
    return ObjectStore(
        endpoint.endpoint_url, endpoint.region, endpoint.access_key_id, endpoint.secret_access_key
    )


def _client(endpoint: S3Endpoint, *, connections: int) -> S3Client:
    """A plain boto3 client with one connection per thread that shares it."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint.endpoint_url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": "path"},
            max_pool_connections=connections,
        ),
    )


def _fresh_bucket(cleanup: ExitStack, endpoint: S3Endpoint, name: str) -> str:
    create_bucket(endpoint, name)
    cleanup.callback(_release, name, lambda: delete_bucket(endpoint, name))
    return name


def _release(name: str, release: Callable[[], None]) -> None:
    try:
        release()
    except BackingServiceError as error:
        _note(f"could not delete bucket {name}: {' '.join(str(error).split())}")


def _keys(count: int) -> list[str]:
    """Half originals, half thumbnails, named as the app names them; sorted as S3 lists them."""
    keys = [
        f"photos/{hashlib.md5(f'photo:{i}'.encode()).hexdigest()}"  # noqa: S324 - a name, not a secret
        if i % 2 == 0
        else f"thumbnails/{hashlib.md5(f'photo:{i}'.encode()).hexdigest()}.jpg"  # noqa: S324
        for i in range(count)
    ]
    return sorted(keys)


def _seed(client: S3Client, bucket: str, keys: list[str], size: int) -> None:
    block = random.Random(42).randbytes(_RANDOM_BLOCK_BYTES)  # noqa: S311 - test data

    def put(numbered: tuple[int, str]) -> None:
        number, key = numbered
        start = (number * 7919) % max(1, len(block) - size)
        body = (key.encode() + block[start : start + size])[:size]
        client.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(max_workers=_SEED_THREADS) as pool:
        for _ in pool.map(put, enumerate(keys)):
            pass


def _count_listing(client: S3Client, bucket: str, expected: int) -> None:
    found = sum(1 for _ in list_objects(client, bucket))
    if found != expected:
        raise MigrationError(f"bucket {bucket!r} lists {found:,} objects, not {expected:,}")


def _ceiling(client: S3Client, source_bucket: str, target_bucket: str, keys: list[str], threads: int) -> None:
    """Every key copied server-side by a plain pool: no listing, no check, nothing but the copy."""

    def copy(key: str) -> None:
        client.copy_object(Bucket=target_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key})

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(copy, keys):
            pass


def _across_endpoints(  # noqa: PLR0917 - one call site, every argument a different thing
    cleanup: ExitStack,
    client: S3Client,
    source_bucket: str,
    keys: list[str],
    progress: Callable[[str, int, str], Progress],
    failures: list[str],
) -> list[Measurement]:
    """The first keys streamed to a second embedded SeaweedFS by the tool, then re-checked."""
    _note(f"starting a second S3 endpoint to stream {len(keys):,} objects to")
    other = _embedded(cleanup)
    bucket = _fresh_bucket(cleanup, other, "snappy-benchmark-elsewhere")
    transfer = ObjectTransfer(
        client, source_bucket, s3_client(_as_object_store(other)), bucket, server_side=False
    )
    started = time.perf_counter()
    first = copy_listed_objects(transfer, keys, progress=progress("streamed", len(keys), "objects"))
    streamed = Measurement("streamed", len(keys), "objects", time.perf_counter() - started)
    started = time.perf_counter()
    again = copy_listed_objects(transfer, keys, progress=progress("re-run", len(keys), "keys"))
    rechecked = Measurement("re-streamed", len(keys), "keys", time.perf_counter() - started)
    if first.copied != len(keys) or again.copied:
        failures.append(f"the streamed copy wrote {first.copied:,} of {len(keys):,}, then {again.copied:,}")
    return [streamed, rechecked]


def _render_inventory(inventory: ObjectInventory) -> str:
    return render(VerifyReport(tables=[], orphans=[], objects=inventory, pending_changes=0))


def _silent_progress(label: str, total: int, unit: str) -> Progress:
    return Progress(label, total, unit, stream=io.StringIO())


def _print_figures(
    *,
    size: int,
    threads: int,
    where: str,
    measurements: list[Measurement],
    hashed: int,
    peak_mb: float,
    tool_peak_mb: float | None,
) -> None:
    print()
    print(f"Snappy object migration: {measurements[0].count:,} objects of {size:,} bytes; S3 from {where}")
    print(
        f"{threads} copy threads for the ceiling and the tool; {os.cpu_count()} CPUs,"
        f" load average (1 min) {os.getloadavg()[0]:.2f} at the end"
    )
    print()
    print(f"{'step':<12}{'count':>10}{'seconds':>10}{'rate':>12}  unit")
    for measurement in measurements:
        print(
            f"{measurement.step:<12}{measurement.count:>10,}{measurement.seconds:>10.2f}"
            f"{measurement.rate:>12,.0f}  {measurement.unit}/s"
        )
    print()
    print(
        "ceiling: a plain thread pool calling copy_object for every key (no listing, no check);"
        " copy: snappy_migration.objects.copy_listed_objects, listings of both buckets included;"
        " verify: snappy_migration.verify.inventory_objects."
    )
    print(f"objects settled by hashing (ETags could not decide): {hashed:,}")
    if tool_peak_mb is not None:
        print(
            f"peak memory of the tool: {tool_peak_mb:,.1f} MB (VmHWM, the maximum resident set of this"
            " process, reset through /proc/self/clear_refs after the ceiling: the copies and the verify)"
        )
    print(
        f"peak memory: {peak_mb:,.1f} MB (ru_maxrss: maximum resident set of this one client process,"
        " which ran the seed, the ceiling, the copies and the verify)"
    )


def _print_targets(
    *, count: int, ratio: float, rerun: float, verify_of_listing: float, peak_mb: float
) -> None:
    scope = "" if count == TARGET_OBJECTS else f" (the targets are set for {TARGET_OBJECTS:,} objects)"

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    print(f"target ratio >= {TARGET_RATIO:.2f}: {verdict(ratio >= TARGET_RATIO)}{scope}")
    print(
        f"target re-run >= {TARGET_RERUN_KEYS_PER_SECOND:,.0f} keys/s:"
        f" {verdict(rerun >= TARGET_RERUN_KEYS_PER_SECOND)} ({rerun:,.0f}){scope}"
    )
    print(
        f"target verify >= {TARGET_VERIFY_OF_LISTING:.1f} x listing speed:"
        f" {verdict(verify_of_listing >= TARGET_VERIFY_OF_LISTING)} ({verify_of_listing:.2f}){scope}"
    )
    print(f"target peak memory < {TARGET_PEAK_MB:.0f} MB: {verdict(peak_mb < TARGET_PEAK_MB)}{scope}")


def _note(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
