"""Running Snappy stacks locally: their processes, secrets, data and lifetime.

A stack is described once, as data: each `Server` names the deployable it runs, its port,
its own settings and the database and bucket it owns. `running_stacks` is the one loop
that provisions, migrates, starts and stops them all.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from snappy_devstack.backing import BackingServices, create_bucket, create_database
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.postgres import database_url
from snappy_devstack.processes import LOOPBACK, free_ports, log_tail, stop_process, wait_until
from snappy_migration.data.local_stack import LocalStack, remove_local_stack, write_local_stack
from snappy_migration.data.stores import ObjectStore

__all__ = [
    "EDGE",
    "MONOLITH",
    "PHOTO_SERVICE",
    "STACKS",
    "USER_SERVICE",
    "WEB_UI",
    "Deployable",
    "RunningServer",
    "Server",
    "ServerFailed",
    "Stack",
    "StackError",
    "StackSecrets",
    "check_installed",
    "default_state_dir",
    "ensure_secrets",
    "local_stack_description",
    "microservices_stack",
    "monolith_stack",
    "plan_stacks",
    "published_local_stack",
    "running_stacks",
    "server_environment",
    "watch",
]

# The choices of `snappy up --stack`; "both" runs the monolith at --port and the microservices at --port + 1.
STACKS = ("monolith", "microservices", "both")
MONOLITH_DATABASE = "snappy_monolith"
MONOLITH_BUCKET = "snappy-monolith"
USERS_DATABASE = "snappy_users"
PHOTOS_DATABASE = "snappy_photos"
PHOTOS_BUCKET = "snappy-photos"
# Phase 3: users, tokens and JWKS go to user-service, photo data to photo-service and pages to
# web-ui, so the microservices serve the whole of Snappy without the monolith.
MICROSERVICES_EDGE_PHASE = "3"
# user-service, photo-service and web-ui listen on free ports behind the edge.
_MICROSERVICES_PRIVATE_PORTS = 3
JWT_KEY_FILE = "jwt-signing-key.pem"
SESSION_SECRET_FILE = "session-secret"  # noqa: S105 - a file name
# Inherited settings that would rewire a stack: an inline key wins over the stack's key file, a
# JWKS URL makes photo-service trust another signer, component URLs send the edge elsewhere.
_REWIRING_VARIABLES = frozenset(
    {"SNAPPY_JWT_PRIVATE_KEY", "SNAPPY_JWKS_URL", "SNAPPY_MONOLITH_URL", "SNAPPY_WEB_UI_URL"}
)
_READY_TIMEOUT_SECONDS = 60.0
_MIGRATION_TIMEOUT_SECONDS = 300
_GUNICORN_STOP_GRACE_SECONDS = 35.0


class StackError(DevstackError):
    """A stack could not be prepared, started or kept running."""


class ServerFailed(StackError):
    """A server did not become ready, or exited; its log says why."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True)
class Deployable:
    """A program Snappy is made of: its Python package and the project folder that installs it."""

    name: str
    package: str
    project: str


MONOLITH = Deployable("monolith", "snappy_monolith", "monolith")
USER_SERVICE = Deployable("user-service", "snappy_user_service", "microservices/user-service")
PHOTO_SERVICE = Deployable("photo-service", "snappy_photo_service", "microservices/photo-service")
WEB_UI = Deployable("web-ui", "snappy_web_ui", "microservices/web-ui")
EDGE = Deployable("edge", "snappy_migration", "migration")


@dataclass(frozen=True)
class Server:
    """One process of a stack: what it runs, its port, its own settings and the data it owns."""

    deployable: Deployable
    port: int
    settings: Mapping[str, str] = field(default_factory=dict)
    # Created (and migrated, for the database) before the server starts.
    database: str | None = None
    bucket: str | None = None
    # Gets the JWT signing key; token verifiers need only the signer's JWKS.
    signs_tokens: bool = False
    # Gets the session secret, the same for every server with pages, so sessions pass between them.
    signs_sessions: bool = False

    @property
    def name(self) -> str:
        """The deployable's name, which also names the server's log files."""
        return self.deployable.name

    @property
    def url(self) -> str:
        """Where the server answers."""
        return f"http://{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class Stack:
    """One version of Snappy: its servers in start order, the last one answering the public port."""

    name: str
    servers: tuple[Server, ...]
    note: str = ""

    @property
    def entry(self) -> Server:
        """The server the stack's users talk to."""
        return self.servers[-1]


@dataclass(frozen=True)
class StackSecrets:
    """Secrets generated once per state folder and reused by every later run."""

    jwt_private_key_path: Path
    session_secret: str


@dataclass(frozen=True)
class RunningServer:
    """A started server, its process and its log."""

    server: Server
    process: subprocess.Popen[bytes]
    log_path: Path


def monolith_stack(port: int) -> Stack:
    """The monolith alone at `port`."""
    monolith = Server(
        MONOLITH,
        port,
        database=MONOLITH_DATABASE,
        bucket=MONOLITH_BUCKET,
        signs_tokens=True,
        signs_sessions=True,
    )
    return Stack("monolith", (monolith,))


def microservices_stack(
    port: int, user_service_port: int, photo_service_port: int, web_ui_port: int
) -> Stack:
    """user-service, photo-service and web-ui behind the edge at `port`."""
    # Behind one proxy: the edge, and for log-ins from pages web-ui, which names the visitor's
    # address in X-Forwarded-For; the log-in throttle counts by that address.
    behind_one_proxy = {"SNAPPY_TRUSTED_PROXY_HOPS": "1"}
    users = Server(
        USER_SERVICE, user_service_port, behind_one_proxy, database=USERS_DATABASE, signs_tokens=True
    )
    photos = Server(
        PHOTO_SERVICE,
        photo_service_port,
        {"SNAPPY_USER_SERVICE_URL": users.url},
        database=PHOTOS_DATABASE,
        bucket=PHOTOS_BUCKET,
    )
    # No database and no bucket: every page calls the two services' public API.
    web_ui = Server(
        WEB_UI,
        web_ui_port,
        {"SNAPPY_USER_SERVICE_URL": users.url, "SNAPPY_PHOTO_SERVICE_URL": photos.url, **behind_one_proxy},
        signs_sessions=True,
    )
    edge = Server(
        EDGE,
        port,
        {
            "SNAPPY_EDGE_PHASE": MICROSERVICES_EDGE_PHASE,
            "SNAPPY_USER_SERVICE_URL": users.url,
            "SNAPPY_PHOTO_SERVICE_URL": photos.url,
            "SNAPPY_WEB_UI_URL": web_ui.url,
        },
    )
    note = f"The pages are at {edge.url}/ and the API at {edge.url}/api/v1."
    return Stack("microservices", (users, photos, web_ui, edge), note)


def plan_stacks(choice: str, port: int) -> list[Stack]:
    """The stacks `snappy up --stack <choice> --port <port>` runs; "both" uses `port` and `port + 1`."""
    if choice not in STACKS:
        raise StackError(f"unknown stack {choice!r}; choose one of: {', '.join(STACKS)}")
    names = ("monolith", "microservices") if choice == "both" else (choice,)
    public_ports = [port + offset for offset in range(len(names))]
    needed = _MICROSERVICES_PRIVATE_PORTS * names.count("microservices")
    # Among `needed + len(public_ports)` distinct free ports, at least `needed` are not public.
    candidates = free_ports(needed + len(public_ports))
    spare_ports = iter([candidate for candidate in candidates if candidate not in public_ports])
    return [
        monolith_stack(public_port)
        if name == "monolith"
        else microservices_stack(public_port, next(spare_ports), next(spare_ports), next(spare_ports))
        for name, public_port in zip(names, public_ports, strict=True)
    ]


def local_stack_description(stacks: Sequence[Stack], services: BackingServices) -> LocalStack | None:
    """Where the data migration finds both sides of a side-by-side run; None for a single stack.

    `snappy migrate` and the rehearsal read it (as `stack.json` in the state folder) to move
    the monolith's data into the microservices' databases and bucket.
    """
    by_deployable = {server.deployable: server for stack in stacks for server in stack.servers}
    entries = {stack.name: stack.entry.url for stack in stacks}
    monolith = by_deployable.get(MONOLITH)
    users = by_deployable.get(USER_SERVICE)
    photos = by_deployable.get(PHOTO_SERVICE)
    if monolith is None or users is None or photos is None:
        return None
    if (
        monolith.database is None
        or monolith.bucket is None
        or users.database is None
        or photos.database is None
        or photos.bucket is None
    ):
        raise StackError("a stack names no database or bucket for a server that owns one")
    return LocalStack(
        monolith_database_url=database_url(services.postgres_url, monolith.database),
        user_service_database_url=database_url(services.postgres_url, users.database),
        photo_service_database_url=database_url(services.postgres_url, photos.database),
        object_store=ObjectStore(
            endpoint_url=services.s3.endpoint_url,
            region=services.s3.region,
            access_key_id=services.s3.access_key_id,
            secret_access_key=services.s3.secret_access_key,
        ),
        monolith_bucket=monolith.bucket,
        photo_service_bucket=photos.bucket,
        monolith_url=entries.get("monolith"),
        microservices_url=entries.get("microservices"),
    )


@contextmanager
def published_local_stack(
    path: Path, stacks: Sequence[Stack], services: BackingServices
) -> Iterator[LocalStack | None]:
    """Write the description of a side-by-side run to `path` while the context lasts, then remove it.

    Single stacks get no description (the migration needs both sides): None, and no file.
    """
    description = local_stack_description(stacks, services)
    if description is None:
        yield None
        return
    write_local_stack(path, description)
    try:
        yield description
    finally:
        remove_local_stack(path)


def default_state_dir(cwd: Path) -> Path:
    """`.snappy` in the repository root above `cwd` (the folder holding `.git`), else in `cwd`."""
    for folder in [cwd, *cwd.parents]:
        if (folder / ".git").exists():
            return folder / ".snappy"
    return cwd / ".snappy"


def check_installed(stacks: Sequence[Stack]) -> None:
    """Fail early, with a hint, when a deployable of `stacks` or gunicorn is not installed here."""
    for server in (server for stack in stacks for server in stack.servers):
        deployable = server.deployable
        if importlib.util.find_spec(deployable.package) is None:
            raise StackError(
                f"{deployable.name} is not installed in this environment"
                f" (run: pip install -e {deployable.project})"
            )
    if not _gunicorn_executable().is_file():
        raise StackError(f"gunicorn is not installed in {_scripts_dir()}")


def ensure_secrets(state_dir: Path) -> StackSecrets:
    """Create the JWT signing key and the session secret under `state_dir` unless they exist."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key_path = state_dir / JWT_KEY_FILE
    if not key_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _create_private_file(key_path, pem)
    _check_signing_key(key_path)

    secret_path = state_dir / SESSION_SECRET_FILE
    if not secret_path.exists():
        _create_private_file(secret_path, (secrets.token_urlsafe(48) + "\n").encode())
    session_secret = secret_path.read_text(encoding="ascii").strip()
    if not session_secret:
        raise StackError(f"{secret_path} is empty; delete it to generate a new secret")
    return StackSecrets(jwt_private_key_path=key_path, session_secret=session_secret)


def server_environment(
    base: Mapping[str, str],
    server: Server,
    *,
    services: BackingServices,
    stack_secrets: StackSecrets,
) -> dict[str, str]:
    """The environment a server's processes run with: `base` plus its SNAPPY_* settings."""
    environment = {name: value for name, value in base.items() if name not in _REWIRING_VARIABLES}
    environment["SNAPPY_BIND"] = f"{LOOPBACK}:{server.port}"
    environment["PYTHONUNBUFFERED"] = "1"
    if server.database is not None:
        environment["SNAPPY_DATABASE_URL"] = database_url(services.postgres_url, server.database)
    if server.bucket is not None:
        environment.update(
            {
                "SNAPPY_S3_BUCKET": server.bucket,
                "SNAPPY_S3_ENDPOINT_URL": services.s3.endpoint_url,
                "SNAPPY_S3_REGION": services.s3.region,
                "SNAPPY_S3_ACCESS_KEY_ID": services.s3.access_key_id,
                "SNAPPY_S3_SECRET_ACCESS_KEY": services.s3.secret_access_key,
            }
        )
    if server.signs_tokens:
        environment["SNAPPY_JWT_PRIVATE_KEY_FILE"] = str(stack_secrets.jwt_private_key_path)
    if server.signs_sessions:
        environment["SNAPPY_SECRET_KEY"] = stack_secrets.session_secret
    environment.update(server.settings)
    return environment


@contextmanager
def running_stacks(
    stacks: Sequence[Stack],
    *,
    services: BackingServices,
    stack_secrets: StackSecrets,
    logs: Path,
    base_environment: Mapping[str, str],
    progress: Callable[[str], None],
) -> Iterator[list[RunningServer]]:
    """Provision, migrate and start every server in order, each ready before the next starts.

    They stop in the reverse order when the context ends, so no server outlives one it calls.
    """
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as started:
        running: list[RunningServer] = []
        for server in (server for stack in stacks for server in stack.servers):
            environment = server_environment(
                base_environment, server, services=services, stack_secrets=stack_secrets
            )
            if server.bucket is not None:
                create_bucket(services.s3, server.bucket)
            if server.database is not None:
                create_database(services.postgres_url, server.database)
                progress(f"Migrating {server.name}'s database ({server.database})...")
                _migrate(server, environment, logs / f"{server.name}-migrate.log")
            progress(f"Starting {server.name}...")
            log_path = logs / f"{server.name}.log"
            running_server = started.enter_context(_running_server(server, environment, log_path))
            _wait_until_ready(running_server)
            running.append(running_server)
        yield running


def watch(running: Sequence[RunningServer]) -> NoReturn:
    """Wait while every server runs; raise ServerFailed for the first one that exits."""
    while True:
        for item in running:
            status = item.process.poll()
            if status is not None:
                raise ServerFailed(f"{item.server.name} exited unexpectedly (status {status})", item.log_path)
        time.sleep(0.5)


def _migrate(server: Server, environment: Mapping[str, str], log_path: Path) -> None:
    with log_path.open("ab") as log:
        try:
            completed = subprocess.run(  # noqa: S603 - a fixed argv built here
                [sys.executable, "-m", server.deployable.package, "migrate"],
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_MIGRATION_TIMEOUT_SECONDS,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise StackError(f"{server.name}'s database migration failed: {one_line(error)}") from error
    if completed.returncode != 0:
        last = log_tail(log_path, 1) or "no output"
        raise StackError(
            f"{server.name}'s database migration failed with status {completed.returncode}:"
            f" {last.strip()} (log: {log_path})"
        )


@contextmanager
def _running_server(
    server: Server, environment: Mapping[str, str], log_path: Path
) -> Iterator[RunningServer]:
    """Run `server` under gunicorn while the context lasts; stop it gracefully after."""
    package = server.deployable.package
    arguments = [str(_gunicorn_executable()), "-c", f"python:{package}.gunicorn_conf", f"{package}.wsgi:app"]
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
                arguments,
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches only `snappy`, which then stops it in order.
                start_new_session=True,
            )
        except OSError as error:
            raise StackError(f"cannot start gunicorn for {server.name}: {one_line(error)}") from error
    try:
        yield RunningServer(server, process, log_path)
    finally:
        stop_process(process, grace_seconds=_GUNICORN_STOP_GRACE_SECONDS, whole_group=True)


def _wait_until_ready(running: RunningServer) -> None:
    """Poll GET /readyz until it answers 200; raise ServerFailed if the server exits or time runs out."""
    server, process = running.server, running.process

    def ready() -> bool:
        try:
            return httpx.get(f"{server.url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    if wait_until(
        ready, timeout=_READY_TIMEOUT_SECONDS, interval=0.25, abort=lambda: process.poll() is not None
    ):
        return
    status = process.poll()
    raise ServerFailed(
        f"{server.name} was not ready after {_READY_TIMEOUT_SECONDS:.0f} s"
        if status is None
        else f"{server.name} exited with status {status} while starting",
        running.log_path,
    )


def _scripts_dir() -> Path:
    # The interpreter running `snappy` is the project's virtualenv; its tools sit beside it.
    return Path(sys.executable).parent


def _gunicorn_executable() -> Path:
    return _scripts_dir() / "gunicorn"


def _create_private_file(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _check_signing_key(path: Path) -> None:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise StackError(
            f"cannot read the JWT signing key {path}: {one_line(error)}; delete it to generate one"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise StackError(f"{path} is not an Ed25519 private key; delete it to generate one")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
