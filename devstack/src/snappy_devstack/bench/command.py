"""`snappy bench`: the same workload on the monolith and on the microservices, step by step, compared.

The targets are the two stacks of `snappy up --stack both` (from its `stack.json`), or
any two given by URL. Both get the same prepared data, then, for each concurrency, the
monolith and the microservices in turn get the same load for the same time, so noise on
the machine falls on both. At the end: a table on the terminal, `bench.json` with every
figure and the run's settings, and two charts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snappy_devstack.bench.preparation import (
    BENCH_USERS,
    PHOTOS_PER_USER,
    Credentials,
    PreparedStack,
    log_in_everyone,
    new_plan,
    outlast,
    prepare_stack,
    step_workload,
)
from snappy_devstack.bench.results import StepResult, compare, render_table, report_document, write_report
from snappy_devstack.bench.runner import Progress, Step, run_step
from snappy_devstack.bench.targets import (
    BenchUsageError,
    Targets,
    check_answers,
    targets_from_stack_file,
    targets_from_urls,
)
from snappy_devstack.bench.workload import MIX, StepWorkload, schedule, write_workload
from snappy_devstack.errors import DevstackError
from snappy_devstack.local_stack import LOCAL_STACK_FILE
from snappy_devstack.stack import default_state_dir

__all__ = ["BENCH", "DEFAULT_CONCURRENCIES", "REPORT_FILE", "add_bench_parser", "run_bench"]

BENCH = "bench"
DEFAULT_CONCURRENCIES = (1, 4, 16, 64)
DEFAULT_DURATION_SECONDS = 20
DEFAULT_WARMUP_SECONDS = 3
REPORT_FILE = "bench.json"
_MAX_CONCURRENCY = 1000
# Users log in again before a step their token would not outlast by this much.
_CREDENTIAL_MARGIN_SECONDS = 120
_EXIT_FAILED = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130


def add_bench_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench` and its options to the `snappy` command's subcommands."""
    bench = commands.add_parser(
        BENCH,
        help="put one workload on the monolith and the microservices and compare latency and throughput",
        description=(
            "Prepare the same users, photos and shares on both versions through the public API, then load"
            " each with Locust at every concurrency in turn (monolith, microservices, next concurrency, ...),"
            " and report latency percentiles, throughput and errors per endpoint, with the ratio of the"
            " microservices to the monolith. By default the targets are the stacks of"
            " `snappy up --stack both`; give both URLs to measure others."
        ),
    )
    bench.add_argument("--monolith-url", type=_url, metavar="URL", help="the monolith's base URL")
    bench.add_argument(
        "--microservices-url", type=_url, metavar="URL", help="the microservices' base URL (their edge)"
    )
    bench.add_argument(
        "--concurrency",
        type=_concurrencies,
        default=DEFAULT_CONCURRENCIES,
        metavar="N,N,...",
        help="concurrent users of each step, comma-separated (default: 1,4,16,64)",
    )
    bench.add_argument(
        "--duration",
        type=_whole_seconds(minimum=1),
        default=DEFAULT_DURATION_SECONDS,
        metavar="SECONDS",
        help=f"measured seconds per step (default: {DEFAULT_DURATION_SECONDS})",
    )
    bench.add_argument(
        "--warmup",
        type=_whole_seconds(minimum=0),
        default=DEFAULT_WARMUP_SECONDS,
        metavar="SECONDS",
        help=f"seconds of load before each step's figures count (default: {DEFAULT_WARMUP_SECONDS})",
    )
    bench.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the report, charts and Locust's logs go (default: .snappy/bench/<UTC time>)",
    )
    bench.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the state folder of `snappy up` whose stack.json names the targets (default: .snappy)",
    )
    bench.set_defaults(bench_parser=bench)


def run_bench(arguments: argparse.Namespace) -> int:
    """Run `snappy bench` as parsed; the exit status."""
    if (arguments.monolith_url is None) != (arguments.microservices_url is None):
        parser: argparse.ArgumentParser = arguments.bench_parser
        parser.error("give both --monolith-url and --microservices-url, or neither")
    try:
        targets = _targets(arguments)
        for target in targets.both:
            check_answers(target)
    except BenchUsageError as error:
        _fail(str(error))
        return _EXIT_USAGE
    try:
        return _benchmark(arguments, targets, _output_dir(arguments))
    except DevstackError as error:
        _fail(str(error))
        return _EXIT_FAILED
    except KeyboardInterrupt:
        _say("\nStopped.")
        return _EXIT_INTERRUPTED


def _targets(arguments: argparse.Namespace) -> Targets:
    if arguments.monolith_url is not None:
        return targets_from_urls(arguments.monolith_url, arguments.microservices_url)
    state_dir: Path = arguments.state_dir or default_state_dir(Path.cwd())
    return targets_from_stack_file(state_dir.absolute() / LOCAL_STACK_FILE)


def _output_dir(arguments: argparse.Namespace) -> Path:
    if arguments.output is not None:
        output: Path = arguments.output
        return output.absolute()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return default_state_dir(Path.cwd()) / "bench" / stamp


def _benchmark(arguments: argparse.Namespace, targets: Targets, output: Path) -> int:
    concurrencies: tuple[int, ...] = arguments.concurrency
    warmup: int = arguments.warmup
    duration: int = arguments.duration
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    output.mkdir(parents=True, exist_ok=True)

    _say(
        f"Benchmarking the monolith at {targets.monolith.url}"
        f" and the microservices at {targets.microservices.url}"
    )
    _say(f"  worker processes per serving process: {_workers_text(targets)}")
    _say(f"  steps: concurrency {', '.join(map(str, concurrencies))}; {warmup} s warm-up + {duration} s each")
    plan = new_plan(output / "images")
    _say(f"Preparing {BENCH_USERS} users with {PHOTOS_PER_USER} photos each on both versions...")
    prepared = {target.version: prepare_stack(target, plan, progress=_detail) for target in targets.both}

    # Versions alternate at each concurrency, so noise on the machine falls on both.
    order = [(target, concurrency) for concurrency in concurrencies for target in targets.both]
    steps = [
        Step(number, len(order), target.version, target.url, concurrency)
        for number, (target, concurrency) in enumerate(order, start=1)
    ]
    seed = secrets.randbelow(1_000_000)
    progress = Progress(sys.stdout, seconds_per_step=warmup + duration)
    logged_in: dict[str, dict[str, Credentials]] = {}
    results = []
    for step in steps:
        credentials = logged_in.get(step.version, {})
        if not credentials or not outlast(credentials, warmup + duration + _CREDENTIAL_MARGIN_SECONDS):
            credentials = logged_in[step.version] = log_in_everyone(prepared[step.version])
        workload = step_workload(prepared[step.version], credentials, seed)
        results.append(_run_one(step, workload, output, seconds=(warmup, duration), progress=progress))

    document = report_document(
        settings={
            "monolith_url": targets.monolith.url,
            "microservices_url": targets.microservices.url,
            "targets_from": targets.source,
            "concurrencies": list(concurrencies),
            "duration_seconds": duration,
            "warmup_seconds": warmup,
            "order": [step.slug for step in steps],
            "workers_per_serving_process": targets.workers,
            "seed": seed,
            "started_at": _timestamp(started_at),
            "finished_at": _timestamp(datetime.now(UTC)),
        },
        machine={
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "locust": importlib.metadata.version("locust"),
            "load_average_before": [round(load, 2) for load in load_before],
            "load_average_after": [round(load, 2) for load in os.getloadavg()],
        },
        workload=_workload_description(prepared[targets.monolith.version]),
        steps=results,
    )
    report = output / REPORT_FILE
    write_report(report, document)

    _say("")
    _say("Latency in ms; each ratio is the microservices' figure over the monolith's.")
    for line in render_table(compare(results)):
        _say(line)

    charts = _charts(results, output, caption=_caption(document))
    _say("")
    _say(f"Report: {report}")
    for chart in charts:
        _say(f"Chart:  {chart}")
    _say(f"Locust's logs and statistics: {output}/<step>/")
    return _verdict(results)


def _run_one(
    step: Step, workload: StepWorkload, output: Path, *, seconds: tuple[int, int], progress: Progress
) -> StepResult:
    """Hand Locust the step's workload and run it (warm-up and measured seconds)."""
    warmup, duration = seconds
    folder = output / step.slug
    workload_file = folder / "workload.json"
    write_workload(workload_file, workload)
    try:
        return run_step(
            step,
            workload_file=workload_file,
            folder=folder,
            warmup_seconds=warmup,
            duration_seconds=duration,
            progress=progress,
        )
    finally:
        # It holds live tokens and session cookies; the figures do not need it.
        workload_file.unlink(missing_ok=True)


def _workload_description(prepared: PreparedStack) -> dict[str, Any]:
    return {
        "users": len(prepared.plan.usernames),
        "photos": len(prepared.photos),
        "shares": prepared.shares,
        "think_time_seconds": 0,
        "cycle_length": len(schedule()),
        "mix": [
            {"endpoint": endpoint.name, "kind": str(endpoint.kind), "weight": endpoint.weight}
            for endpoint in MIX
        ],
    }


def _verdict(results: Sequence[StepResult]) -> int:
    failed = sum(result.all_requests.failures for result in results)
    saturated = [f"{result.version}@{result.concurrency}" for result in results if result.generator_saturated]
    if saturated:
        _say(
            f"Note: Locust's own CPU was saturated in {', '.join(saturated)}: there the load generator"
            " may have set the pace; read those steps with care."
        )
    if failed:
        _fail(f"{failed} requests failed; see each step's `errors` in {REPORT_FILE}, and its locust.log")
        return _EXIT_FAILED
    return 0


def _charts(results: Sequence[StepResult], output: Path, *, caption: str) -> list[Path]:
    # Imported here: matplotlib takes a while to load, and only this step of `snappy` needs it.
    from snappy_devstack.bench.charts import write_charts  # noqa: PLC0415

    return write_charts(results, output, caption=caption)


def _caption(document: dict[str, Any]) -> str:
    settings, machine = document["settings"], document["machine"]
    workers = settings["workers_per_serving_process"]
    return (
        f"{settings['started_at'][:10]}; {machine['cores']} cores; "
        f"{'unknown' if workers is None else workers} worker(s) per serving process; "
        f"{settings['warmup_seconds']} s warm-up + {settings['duration_seconds']} s per step"
    )


def _workers_text(targets: Targets) -> str:
    if targets.workers is None:
        return "unknown" + (" (targets given by URL)" if targets.source == "command line" else "")
    return f"{targets.workers} for the monolith and for each service (from {targets.source})"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(message: str) -> None:
    print(message, flush=True)


def _detail(message: str) -> None:
    _say(f"  {message}")


def _fail(message: str) -> None:
    print(f"snappy {BENCH}: {' '.join(message.split())}", file=sys.stderr, flush=True)


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def _concurrencies(text: str) -> tuple[int, ...]:
    values = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of concurrencies (e.g. 1,4,16)"
            ) from None
        if not 1 <= value <= _MAX_CONCURRENCY:
            raise argparse.ArgumentTypeError(f"concurrency {value} is not between 1 and {_MAX_CONCURRENCY}")
        values.append(value)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} names a concurrency twice")
    return tuple(values)


def _whole_seconds(*, minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum} s")
        return value

    return parse
