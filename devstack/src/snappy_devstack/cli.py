"""The `snappy` developer command.

`up` runs Snappy stacks locally, `seed` loads demo data into one, `migrate` runs the data
migration (on the stacks of `up --stack both` by default), `rehearse` runs the whole
migration rehearsal: both stacks, the monolith's data moved, and parity proved (with
`--phased`, the strangler stack's walk from phase 0 to 3 and back under a client), `bench`
puts one workload on both versions and compares their latency and throughput, and `browse`
has sample users read what they can see on a running Snappy.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import FrameType

from snappy_devstack.backing import BackingServices, provide_backing_services
from snappy_devstack.bench.command import BENCH, add_bench_parser, run_bench
from snappy_devstack.browse import BROWSE, add_browse_parser, run_browse
from snappy_devstack.cutover import CUTOVER, add_cutover_parser, run_cutover
from snappy_devstack.deploy import DEPLOY, add_deploy_parser, run_deploy
from snappy_devstack.edge_workload import workload_through
from snappy_devstack.errors import DevstackError
from snappy_devstack.images import IMAGES_COMMAND, add_images_parser, run_images
from snappy_devstack.local_stack import LOCAL_STACK_FILE, read_local_stack
from snappy_devstack.phase import PHASE, add_phase_parser, run_phase
from snappy_devstack.phased_rehearsal import (
    FIGURES_FILE,
    LAST_LIVE_PHASE,
    PhasedRehearsal,
    StepOutcome,
    cutover_step,
    render_table,
    walk_the_phases,
)
from snappy_devstack.processes import LOOPBACK, log_tail, port_is_free
from snappy_devstack.rehearsal import (
    MIGRATED_BUCKETS,
    MIGRATED_DATABASES,
    REPORT_FILE,
    RehearsalSummary,
    migrate_local_stack,
    render_summary,
    repository_root,
    reset_microservices_side,
    run_scenario_parity,
)
from snappy_devstack.seed import DEFAULT_USERS, SeedSummary, seed
from snappy_devstack.shadow import SHADOW, add_shadow_parser, run_shadow
from snappy_devstack.stack import (
    EDGE_CONTROL_FILE,
    REPLICA_STACKS,
    STACKS,
    STRANGLER,
    STRANGLER_PHASES,
    WORKERS_SETTING,
    MonolithRetirement,
    RunningServer,
    Server,
    ServerFailed,
    Stack,
    check_installed,
    default_state_dir,
    ensure_secrets,
    local_stack_description,
    migrate_database,
    plan_stacks,
    published_local_stack,
    running_stacks,
    watch,
)
from snappy_devstack.strangler import StranglerData, bring_data_to_phase, refuse_or_reset, route_by_the_start
from snappy_devstack.user_views import compare_user_views
from snappy_edge.control import CONTROL_FILE_VARIABLE
from snappy_edge.routing import PHASES
from snappy_migration import cli as migration_cli
from snappy_migration.errors import MigrationError
from snappy_topology import PartName, part

__all__ = ["main"]

_LOG_LINES_ON_FAILURE = 20
_EXIT_USAGE = 2
_EXIT_FAILED = 1
_MIGRATE = "migrate"
_REHEARSAL_STEPS = 7


class _StopRequested(BaseException):
    """Ctrl-C or SIGTERM arrived: unwind, stopping everything that was started."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `snappy` command with `argv` (the process arguments by default)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [_MIGRATE]:
        # Every later argument, --help included, is the migration tool's.
        return _migrate(argv[1:])
    parser = _parser()
    arguments = parser.parse_args(argv)
    run = {
        "up": _up,
        "rehearse": _rehearse,
        BENCH: run_bench,
        BROWSE: run_browse,
        SHADOW: run_shadow,
        PHASE: run_phase,
        CUTOVER: run_cutover,
        DEPLOY: run_deploy,
        IMAGES_COMMAND: run_images,
    }.get(arguments.command, _seed)
    try:
        return run(arguments)
    except DevstackError as error:
        _fail(f"{arguments.command}: {error}")
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snappy",
        description=(
            "Run Snappy locally, load demo data into it, rehearse the data migration,"
            " and benchmark both versions side by side."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run a stack with its backing services until Ctrl-C",
        description="Start PostgreSQL and S3, migrate, and serve a Snappy stack on 127.0.0.1.",
    )
    up.add_argument(
        "--stack",
        choices=STACKS,
        default=STACKS[0],
        help="which stack to run; both: the monolith at --port and the microservices at the next port",
    )
    up.add_argument("--port", type=_port, default=8000, help="HTTP port (default: 8000)")
    up.add_argument(
        "--phase",
        type=int,
        choices=STRANGLER_PHASES,
        default=None,
        help="the strangler stack's phase of the migration (default: 0): what the edge routes where",
    )
    up.add_argument("--seed", action="store_true", help="load demo users and photos into each stack once up")
    up.add_argument(
        "--replicas",
        type=_positive,
        default=1,
        metavar="N",
        help=(
            f"processes of each service behind the edge, each on its own port, taken in turn"
            f" ({' and '.join(REPLICA_STACKS)} stacks; default: 1)"
        ),
    )
    up.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help=(
            f"gunicorn worker processes of the monolith and of each service ({WORKERS_SETTING};"
            " default: the environment's, else 1)"
        ),
    )
    _add_state_dir_option(up)

    rehearse = commands.add_parser(
        "rehearse",
        help="run both stacks, migrate the monolith's data into the microservices and prove parity",
        description=(
            "Start the monolith and the microservices side by side, seed the monolith, move its data"
            " into the microservices' emptied stores with the data migration, verify it, compare what"
            " every sample user sees on both versions, run the parity scenario against both, and keep"
            " both stacks up until Ctrl-C. With --phased: start the strangler stack at phase 0 with the"
            " sample data, walk it to phase 3 and back with `snappy cutover` while a client signs up,"
            " logs in, uploads and shares through the edge, verify the data and browse as the sample"
            f" users after each step, print a table of the steps (and write it to .snappy/{FIGURES_FILE}),"
            " and keep the stack up at phase 0 until Ctrl-C. The exit status is 1 if any check failed."
        ),
    )
    rehearse.add_argument(
        "--port",
        type=_port,
        default=8000,
        help=(
            "the monolith's HTTP port; the microservices answer at the next one (with --phased: the"
            " strangler edge's port) (default: 8000)"
        ),
    )
    rehearse.add_argument(
        "--phased",
        action="store_true",
        help="walk the strangler stack's phases 0 -> 4 -> 0 with cutovers under a client, step by step",
    )
    _add_state_dir_option(rehearse)

    commands.add_parser(
        _MIGRATE,
        help="the data migration: plan, backfill, sync, verify, status, run, move-back"
        " (see: snappy migrate --help)",
        add_help=False,
    )

    add_bench_parser(commands)

    add_shadow_parser(commands)
    add_browse_parser(commands)
    add_phase_parser(commands)
    add_cutover_parser(commands)

    add_deploy_parser(commands)

    add_images_parser(commands)

    seed_command = commands.add_parser(
        "seed",
        help="load demo users and photos through the public API",
        description="Sign up demo users, upload generated photos and share some of them.",
    )
    seed_command.add_argument(
        "--url", default="http://127.0.0.1:8000", help="Snappy's base URL (default: %(default)s)"
    )
    seed_command.add_argument(
        "--users",
        type=_positive,
        default=DEFAULT_USERS,
        metavar="N",
        help="demo users (default: %(default)s)",
    )
    seed_command.add_argument(
        "--photos-per-user",
        type=_non_negative,
        default=4,
        metavar="M",
        help="photos uploaded for each new user (default: 4)",
    )
    return parser


def _add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where data, keys and logs live (default: .snappy in the repository root)",
    )


def _up(arguments: argparse.Namespace) -> int:
    stacks = plan_stacks(
        arguments.stack,
        arguments.port,
        state_dir=_state_dir(arguments),
        phase=arguments.phase,
        replicas=arguments.replicas,
    )
    if not _ports_available(stacks, "up"):
        return _EXIT_USAGE
    check_installed(stacks)
    state_dir = _state_dir(arguments)
    logs = state_dir / "logs"
    try:
        with _stop_on_signals():
            _say(f"Starting PostgreSQL and S3 (state in {state_dir})...")
            with provide_backing_services(state_dir, persistent=True) as services:
                _say(f"Backing services: {services.source}")
                strangler = _strangler_of(stacks)
                recorded = None if strangler is None else _before_strangler(strangler, services, state_dir)
                serving = _serving(stacks, services, state_dir, progress=_say, workers=arguments.workers)
                with serving as running:
                    data = None
                    if strangler is not None and recorded is not None:
                        data = _bring_strangler_data(strangler, recorded, stacks, services, state_dir)
                    summaries = [_seed_stack(stack) if arguments.seed else None for stack in stacks]
                    _announce(stacks, summaries, logs, data)
                    with _monolith_retirement(strangler, running) as retirement:
                        watch(running, retirement=retirement)
    except ServerFailed as error:
        _show_log(error.log_path)
        raise
    except _StopRequested:
        _say("Stopped.")
    return 0


def _strangler_of(stacks: list[Stack]) -> Stack | None:
    return next((stack for stack in stacks if stack.name == STRANGLER), None)


def _monolith_retirement(
    strangler: Stack | None, running: list[RunningServer]
) -> AbstractContextManager[MonolithRetirement | None]:
    """The strangler's monolith following its edge's phase (stopped at phase 4); nothing for other stacks.

    A stack started at phase 4 runs no monolith, and has none to start again: it goes back
    to phase 3 by a restart.
    """
    monolith = next(
        (
            item
            for item in running
            if strangler is not None
            and item.server in strangler.servers
            and item.server.part.name is PartName.MONOLITH
        ),
        None,
    )
    control_file = None if strangler is None else strangler.entry.settings.get(CONTROL_FILE_VARIABLE)
    if strangler is None or monolith is None or control_file is None:
        return nullcontext()
    return MonolithRetirement(monolith, Path(control_file), strangler.phase or 0, progress=_say)


def _before_strangler(stack: Stack, services: BackingServices, state_dir: Path) -> int:
    """Refuse or empty the services' stores (snappy_devstack.strangler); migrate the stores with no server.

    The data migration reads the monolith's database and writes both services', whether or
    not their process runs in this phase (the monolith's database outlives its process at
    phase 4); a cutover from phase 0 fills the services' stores.
    """
    phase = stack.phase or 0
    recorded = refuse_or_reset(services, phase)
    route_by_the_start(state_dir / EDGE_CONTROL_FILE)
    running = {server.part.name for server in stack.servers}
    for name in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE):
        if name not in running:
            _say(f"Migrating {name}'s database (no {name} process in phase {phase})...")
            migrate_database(Server(part(name), 0), services=services, logs=state_dir / "logs")
    return recorded


def _bring_strangler_data(
    stack: Stack, recorded: int, stacks: list[Stack], services: BackingServices, state_dir: Path
) -> StranglerData:
    description = local_stack_description(stacks, services)
    if description is None:
        raise DevstackError("the strangler stack has no stack description")
    report_path = state_dir / REPORT_FILE
    return bring_data_to_phase(description, stack.phase or 0, recorded, report_path, progress=_say)


def _rehearse(arguments: argparse.Namespace) -> int:
    if arguments.phased:
        return _rehearse_phased(arguments)
    stacks = plan_stacks("both", arguments.port, state_dir=_state_dir(arguments))
    if not _ports_available(stacks, "rehearse"):
        return _EXIT_USAGE
    check_installed(stacks)
    state_dir = _state_dir(arguments)
    monolith, microservices = stacks
    passed = True
    try:
        with _stop_on_signals():
            _step(1, f"Backing services: starting PostgreSQL and S3 (state in {state_dir})")
            with provide_backing_services(state_dir, persistent=True) as services:
                _detail(f"from: {services.source}")
                ensure_secrets(state_dir)
                _step(
                    2,
                    f"Resetting the microservices' side: databases {' and '.join(MIGRATED_DATABASES)},"
                    f" bucket {', '.join(MIGRATED_BUCKETS)} (the monolith's data is kept)",
                )
                reset_microservices_side(services)
                _step(
                    3,
                    f"Starting the monolith at {monolith.entry.url}"
                    f" and the microservices at {microservices.entry.url}",
                )
                with _serving(stacks, services, state_dir, progress=_detail) as running:
                    summary = _rehearse_on(stacks, services, state_dir)
                    for line in render_summary(summary):
                        _say(line)
                    passed = summary.ok
                    watch(running)
    except ServerFailed as error:
        _show_log(error.log_path)
        raise
    except _StopRequested:
        _say("Stopped." if passed else "Stopped; some checks of the rehearsal FAILED (exit status 1).")
    return 0 if passed else _EXIT_FAILED


def _rehearse_on(stacks: list[Stack], services: BackingServices, state_dir: Path) -> RehearsalSummary:
    """Steps 4 to 7 on the running stacks: seed, migrate, data parity, scenario parity."""
    monolith_url, microservices_url = (stack.entry.url for stack in stacks)
    description = local_stack_description(stacks, services)
    if description is None:
        raise DevstackError("the rehearsal needs the monolith and the microservices")

    _step(4, f"Seeding the monolith at {monolith_url} through its API")
    seeded = seed(monolith_url, progress=_detail)
    summary = RehearsalSummary(
        monolith_url=monolith_url,
        microservices_url=microservices_url,
        usernames=seeded.usernames,
        password=seeded.password,
    )

    _step(5, "Migrating the monolith's data into the microservices' stores: backfill, sync, verify")
    try:
        summary.migration = migrate_local_stack(description, state_dir / REPORT_FILE)
    except MigrationError as error:
        summary.migration_error = str(error)
        _detail(f"the migration stopped: {error}")

    if summary.migration is None:
        _step(6, "Data parity: skipped, the migration did not finish")
    else:
        _step(6, f"Data parity: what {', '.join(seeded.usernames)} see on each version, compared exactly")
        try:
            summary.view_differences = compare_user_views(
                monolith_url, microservices_url, seeded.usernames, seeded.password
            )
            summary.users_compared = len(seeded.usernames)
        except DevstackError as error:
            summary.data_parity_error = str(error)

    _step(7, "Scenario parity: the parity tests against both running stacks")
    summary.scenario = run_scenario_parity(
        monolith_url,
        microservices_url,
        log_path=state_dir / "logs" / "scenario-parity.log",
        root=repository_root(),
    )
    return summary


def _rehearse_phased(arguments: argparse.Namespace) -> int:
    """`snappy rehearse --phased`: the strangler stack started as `up --phase 0 --seed` does, walked, back."""
    state_dir = _state_dir(arguments)
    stacks = plan_stacks(STRANGLER, arguments.port, state_dir=state_dir, phase=0)
    if not _ports_available(stacks, "rehearse"):
        return _EXIT_USAGE
    check_installed(stacks)
    [stack] = stacks
    figures = state_dir / FIGURES_FILE
    # A previous run's figures must not pass for this one's, should this one stop early.
    figures.unlink(missing_ok=True)
    passed = True
    try:
        with _stop_on_signals():
            _say(f"Starting PostgreSQL and S3 (state in {state_dir})...")
            with provide_backing_services(state_dir, persistent=True) as services:
                _say(f"Backing services: {services.source}")
                recorded = _before_strangler(stack, services, state_dir)
                with _serving(stacks, services, state_dir, progress=_say) as running:
                    _bring_strangler_data(stack, recorded, stacks, services, state_dir)
                    seeded = _seed_stack(stack)
                    description = local_stack_description(stacks, services)
                    if description is None:
                        raise DevstackError("the strangler stack has no stack description")
                    rehearsal = PhasedRehearsal(stack.entry.url, seeded.usernames)
                    _say(
                        f"Walking phase 0 -> {LAST_LIVE_PHASE} -> 0 with cutovers while a client signs up,"
                        " logs in, uploads, shares and reads through the edge"
                    )
                    with _monolith_retirement(stack, running) as retirement:
                        with workload_through(stack.entry.url) as workload:

                            def take_step(from_phase: int, to_phase: int) -> StepOutcome:
                                _say(f"Step {from_phase} -> {to_phase}: snappy cutover --to {to_phase}")
                                return cutover_step(
                                    description,
                                    from_phase,
                                    to_phase,
                                    workload=workload,
                                    usernames=seeded.usernames,
                                    password=seeded.password,
                                    report_dir=state_dir,
                                    echo=_detail,
                                )

                            rehearsal.steps = walk_the_phases(take_step)
                        rehearsal.write(figures)
                        passed = rehearsal.ok
                        closing = _phased_closing(rehearsal, seeded, figures)
                        for line in ["", "Phased rehearsal", *render_table(rehearsal), *closing]:
                            _say(line)
                        watch(running, retirement=retirement)
    except ServerFailed as error:
        _show_log(error.log_path)
        raise
    except _StopRequested:
        _say("Stopped." if passed else "Stopped; some steps of the phased rehearsal FAILED (exit status 1).")
    return 0 if passed else _EXIT_FAILED


def _phased_closing(rehearsal: PhasedRehearsal, seeded: SeedSummary, figures: Path) -> list[str]:
    """What follows the table: where the figures are, phase 4, the verdict, and where the stack is."""
    verdict = (
        "Every step passed."
        if rehearsal.ok
        else "Some steps FAILED (above); the command exits with status 1 after Ctrl-C."
    )
    return [
        f"Figures: {figures}",
        verdict,
        f"The stack keeps running at phase {rehearsal.phase} at {rehearsal.edge_url}. {_credentials(seeded)}",
        "Press Ctrl-C to stop.",
    ]


def _migrate(argv: Sequence[str]) -> int:
    """`snappy migrate ...`: the data migration tool, on the stacks of `snappy up --stack both` by default."""
    stack_file = default_state_dir(Path.cwd()) / LOCAL_STACK_FILE
    local_stack = migration_cli.DefaultStores(
        endpoints=lambda: read_local_stack(stack_file).endpoints(),
        report_dir=stack_file.parent,
        hint=f"With no store options, the local stack of `snappy up --stack both` is used ({stack_file}).",
    )
    return migration_cli.main(argv, prog=f"snappy {_MIGRATE}", default_stores=local_stack)


@contextmanager
def _serving(
    stacks: list[Stack],
    services: BackingServices,
    state_dir: Path,
    *,
    progress: Callable[[str], None],
    workers: int | None = None,
) -> Iterator[list[RunningServer]]:
    """Run `stacks` while the context lasts; for both stacks, describe them in `stack.json` too.

    `workers` sets SNAPPY_WORKERS of the monolith and each service; without it they keep the
    environment's. `stack.json` records the count they run with either way.
    """
    with (
        running_stacks(
            stacks,
            services=services,
            stack_secrets=ensure_secrets(state_dir),
            logs=state_dir / "logs",
            base_environment=os.environ,
            progress=progress,
            workers=workers,
        ) as running,
        published_local_stack(
            state_dir / LOCAL_STACK_FILE,
            stacks,
            services,
            workers=workers if workers is not None else _inherited_workers(),
        ),
    ):
        yield running


def _inherited_workers() -> int | None:
    """The worker count servers take from the environment: its SNAPPY_WORKERS, else gunicorn_conf's 1."""
    inherited = os.environ.get(WORKERS_SETTING, "").strip()
    if not inherited:
        return 1
    return int(inherited) if inherited.isdigit() else None


def _ports_available(stacks: list[Stack], command: str) -> bool:
    """Whether every public port of `stacks` exists and is free; says which is not."""
    for stack in stacks:
        port = stack.entry.port
        if port > 65535:
            _fail(f"{command}: the {stack.name} stack would need port {port}; choose a lower --port")
            return False
        if not port_is_free(port):
            _fail(
                f"{command}: port {port} on {LOOPBACK} (for the {stack.name} stack) is already in use;"
                " choose another with --port"
            )
            return False
    return True


def _state_dir(arguments: argparse.Namespace) -> Path:
    state_dir: Path = arguments.state_dir or default_state_dir(Path.cwd())
    return state_dir.absolute()


def _seed(arguments: argparse.Namespace) -> int:
    summary = seed(
        arguments.url,
        users=arguments.users,
        photos_per_user=arguments.photos_per_user,
        progress=_say,
    )
    _say(
        f"Seeded {arguments.url}: {summary.users_created} new users, "
        f"{summary.photos_uploaded} photos, {summary.shares_created} shares"
    )
    _say(_credentials(summary))
    return 0


def _seed_stack(stack: Stack) -> SeedSummary:
    _say(f"Seeding the {stack.name} stack at {stack.entry.url}...")
    return seed(stack.entry.url, progress=_say)


def _announce(
    stacks: list[Stack], summaries: list[SeedSummary | None], logs: Path, data: StranglerData | None = None
) -> None:
    for stack, summary in zip(stacks, summaries, strict=True):
        named = stack.name if stack.phase is None else f"{stack.name}, phase {stack.phase}"
        _say(f"Snappy ({named}) is up at {stack.entry.url}")
        behind = stack.servers[:-1]
        if behind:
            _say("  behind it: " + ", ".join(f"{server.name} at {server.url}" for server in behind))
        replicated = [server.name for server in behind if server.replica is not None]
        if replicated:
            _say(
                f"  replicas: the edge takes each service's in turn; each logs to its own file"
                f" ({', '.join(f'{name}.log' for name in replicated)})"
            )
        if stack.phase is not None:
            for line in _routing_lines(stack, stack.phase):
                _say(f"  {line}")
        if data is not None and stack.name == STRANGLER:
            for line in data.lines():
                _say(f"  {line}")
        if stack.note:
            _say(f"  {stack.note}")
        if summary is not None:
            _say(f"  {_credentials(summary)}")
    _say(f"Logs: {logs}. Press Ctrl-C to stop.")


def _routing_lines(stack: Stack, phase: int) -> list[str]:
    """Where the edge sends each route group in `phase`: the part and its URL."""
    urls = {server.part.name: server.url for server in stack.servers}
    width = max(len(group.value) for group in PHASES[phase])
    routes = PHASES[phase].items()
    return [f"routing: {group.value:<{width}} -> {owner} at {urls[owner]}" for group, owner in routes]


def _credentials(summary: SeedSummary) -> str:
    return f"Sample users: {', '.join(summary.usernames)} (password: {summary.password})"


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn the first Ctrl-C or SIGTERM into _StopRequested; ignore repeats while stopping."""
    stopping = False

    def request_stop(_signal_number: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping...", file=sys.stderr, flush=True)
        raise _StopRequested

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _show_log(path: Path) -> None:
    tail = log_tail(path, _LOG_LINES_ON_FAILURE)
    if tail:
        print(f"--- last lines of {path} ---\n{tail}\n---", file=sys.stderr, flush=True)


def _say(message: str) -> None:
    print(message, flush=True)


def _step(number: int, message: str) -> None:
    _say(f"[{number}/{_REHEARSAL_STEPS}] {message}")


def _detail(message: str) -> None:
    _say(f"      {message}")


def _fail(message: str) -> None:
    print(f"snappy {' '.join(message.split())}", file=sys.stderr, flush=True)


def _port(text: str) -> int:
    port = _integer(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def _positive(text: str) -> int:
    number = _integer(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return number


def _non_negative(text: str) -> int:
    number = _integer(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


if __name__ == "__main__":
    sys.exit(main())
