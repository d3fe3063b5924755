"""Running Snappy stacks locally: their processes, secrets, data and lifetime.

What each part is, its settings, peers and stores come from the topology (`snappy_topology`);
a stack adds only where each part listens and which peers it is wired to. `running_stacks` is
the one loop that provisions, migrates, starts and stops them all.

The microservices can run as several replicas of each service (`snappy up --stack
microservices --replicas N`, and the microservices of `--stack both`): N processes of
user-service, photo-service and web-ui, each its own gunicorn on its own port with its own
log, on the part's one database and bucket. The edge gets every replica's address (a
comma-separated list, `snappy_edge.replicas`) and takes them in turn; replica i of a
service calls replica i of the services it calls.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Final, NoReturn

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.local_stack import LocalStack, remove_local_stack, write_local_stack
from snappy_devstack.postgres import database_url
from snappy_devstack.processes import LOOPBACK, free_ports, log_tail, stop_process, wait_until
from snappy_edge.control import CONTROL_FILE_VARIABLE, ControlFileError, read_control
from snappy_edge.replicas import ADDRESS_SEPARATOR
from snappy_edge.routing import PHASES
from snappy_edge.shadow import SHADOW_DIR_VARIABLE
from snappy_migration.stores import ObjectStore
from snappy_topology import (
    DATABASE_URL,
    EDGE_PHASE,
    Command,
    ObjectStorage,
    Part,
    PartName,
    Wiring,
    part,
    url_setting,
)
from snappy_topology import environment as part_environment

__all__ = [
    "REPLICA_STACKS",
    "RETIRING_PHASE",
    "STACKS",
    "STRANGLER",
    "STRANGLER_PHASES",
    "WORKERS_SETTING",
    "MonolithRetirement",
    "RunningServer",
    "Server",
    "ServerFailed",
    "Stack",
    "StackError",
    "StackSecrets",
    "check_installed",
    "default_state_dir",
    "drop_stores_at_exit",
    "ensure_secrets",
    "local_stack_description",
    "microservices_stack",
    "migrate_database",
    "monolith_stack",
    "plan_stacks",
    "published_local_stack",
    "running_stacks",
    "server_environment",
    "strangler_parts",
    "strangler_stack",
    "watch",
    "with_own_stores",
]

# The choices of `snappy up --stack`; "both" runs the monolith at --port and the microservices at --port + 1;
# "strangler" runs the edge at --port in one phase of the migration, and behind it what that phase needs.
STACKS = ("monolith", "microservices", "both", "strangler")
STRANGLER = "strangler"
# The stacks that can run several replicas of each service: those whose services are behind
# the edge and nothing else. The strangler's cutovers and `snappy phase` address each part by
# its one URL, and the monolith stack has no edge to spread requests.
REPLICA_STACKS = ("microservices", "both")
# The phases of the strangler stack: snappy_edge.routing.PHASES.
STRANGLER_PHASES = tuple(sorted(PHASES))
# The last phase with a monolith process: phase 3 routes nothing to it but can go back to 2.
_LAST_PHASE_WITH_MONOLITH = 3
# The phase that retires the monolith's process (`MonolithRetirement`), and how often the
# stack looks whether its edge moved into it or out of it.
RETIRING_PHASE: Final = _LAST_PHASE_WITH_MONOLITH + 1
_FOLLOW_INTERVAL_SECONDS = 0.5
# Phase 3: users, tokens and JWKS go to user-service, photo data to photo-service and pages to
# web-ui, so the microservices serve the whole of Snappy without the monolith.
MICROSERVICES_EDGE_PHASE = "3"
# user-service, photo-service and web-ui listen on free ports behind the edge.
_MICROSERVICES_PRIVATE_PORTS = 3
JWT_KEY_FILE = "jwt-signing-key.pem"
SESSION_SECRET_FILE = "session-secret"  # noqa: S105 - a file name
# Inherited settings that would rewire a stack: an inline key wins over the stack's key file, a
# JWKS URL makes photo-service trust another signer, a part's URL sends its callers elsewhere.
_REWIRING_VARIABLES = frozenset(
    {"SNAPPY_JWT_PRIVATE_KEY", "SNAPPY_JWKS_URL", *(url_setting(name) for name in PartName)}
)
# Gunicorn worker processes per server (read by each part's gunicorn_conf; 1 when unset).
WORKERS_SETTING = "SNAPPY_WORKERS"
# The edge's live control file and the shadow's records, in the state folder (`snappy shadow`).
EDGE_CONTROL_FILE = "edge-control.json"
SHADOW_DIR = "shadow"
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
class Server:
    """One process of a stack: the part it runs, its port, its peers' URLs and this stack's own settings.

    Its stores are the part's, by their default names: created (the database migrated) before it starts.
    """

    part: Part
    port: int
    # A peer's URL; the edge's peers may hold several, separated by commas (their replicas).
    peers: Mapping[PartName, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    # Which of the part's replicas this process is (1, 2, ...); None when the part runs once.
    replica: int | None = None

    @property
    def name(self) -> str:
        """The part's name, and the replica's number if it has one; it also names the log file."""
        return self.part.name if self.replica is None else f"{self.part.name}-{self.replica}"

    @property
    def database(self) -> str | None:
        """The database the part owns, if any."""
        return self.part.database

    @property
    def bucket(self) -> str | None:
        """The bucket the part owns, if any."""
        return self.part.bucket

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
    # The phase the edge routes, for the strangler stack.
    phase: int | None = None

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
    """A started server, its process and its log, and the environment it was started with."""

    server: Server
    process: subprocess.Popen[bytes]
    log_path: Path
    environment: Mapping[str, str] = field(default_factory=dict)


def monolith_stack(port: int) -> Stack:
    """The monolith alone at `port`."""
    return Stack("monolith", (Server(part(PartName.MONOLITH), port),))


def microservices_stack(
    port: int,
    user_service_port: int | Sequence[int],
    photo_service_port: int | Sequence[int],
    web_ui_port: int | Sequence[int],
    *,
    monolith_url: str | None = None,
    state_dir: Path | None = None,
) -> Stack:
    """user-service, photo-service and web-ui behind the edge at `port`.

    A service given several ports runs one replica on each, and the edge gets all of their
    addresses; replica i calls replica i of each service it calls (the last one when that
    service has fewer). With `state_dir`, the edge's control file and shadow records are
    there (`snappy shadow`); with `monolith_url`, the monolith running beside can be its
    shadow candidate.
    """
    users = _replicas(PartName.USER_SERVICE, user_service_port, {})
    photos = _replicas(PartName.PHOTO_SERVICE, photo_service_port, {PartName.USER_SERVICE: users})
    web_ui = _replicas(
        PartName.WEB_UI, web_ui_port, {PartName.USER_SERVICE: users, PartName.PHOTO_SERVICE: photos}
    )
    edge_peers = {
        name: ADDRESS_SEPARATOR.join(server.url for server in servers)
        for name, servers in (
            (PartName.USER_SERVICE, users),
            (PartName.PHOTO_SERVICE, photos),
            (PartName.WEB_UI, web_ui),
        )
    }
    if monolith_url is not None:
        # Phase 3 routes nothing to the monolith; `snappy shadow` can make it a candidate.
        edge_peers[PartName.MONOLITH] = monolith_url
    edge_settings = {EDGE_PHASE: MICROSERVICES_EDGE_PHASE}
    if state_dir is not None:
        edge_settings.update(edge_shadow_settings(state_dir))
    edge = Server(part(PartName.EDGE), port, edge_peers, edge_settings)
    note = f"The pages are at {edge.url}/ and the API at {edge.url}/api/v1."
    return Stack("microservices", (*users, *photos, *web_ui, edge), note)


def _replicas(
    name: PartName, ports: int | Sequence[int], calls: Mapping[PartName, Sequence[Server]]
) -> tuple[Server, ...]:
    """Part `name` on each of `ports`, numbered when there are several, each wired to its peers' replica."""
    listen = [ports] if isinstance(ports, int) else list(ports)
    if not listen:
        raise StackError(f"{name} needs at least one port")
    numbered = len(listen) > 1
    return tuple(
        Server(
            part(name),
            port,
            {peer: servers[min(index, len(servers) - 1)].url for peer, servers in calls.items()},
            replica=index + 1 if numbered else None,
        )
        for index, port in enumerate(listen)
    )


def strangler_parts(phase: int) -> tuple[PartName, ...]:
    """The parts the strangler stack runs at `phase`, in start order (each after the parts it calls).

    The parts the routing table sends a group to in this phase and in every later one up to
    phase 3, so that `snappy cutover` walks the phases forward to parts that already run
    (and back: the parts of earlier phases are among them), and those they call: photo-service and web-ui call
    user-service, web-ui photo-service, and the monolith calls the services that own its
    users (phase 1 on) and photos (phase 2 on). The monolith runs up to phase 3, which
    routes nothing to it but can go back to phase 2; phase 4 has no monolith process.
    """
    if phase not in PHASES:
        raise StackError(f"unknown phase {phase}; phases are {', '.join(map(str, STRANGLER_PHASES))}")
    routed = {name for later in range(phase, _last_live_phase(phase) + 1) for name in PHASES[later].values()}
    if phase <= _LAST_PHASE_WITH_MONOLITH:
        routed.add(PartName.MONOLITH)
    needed = set(routed)
    for name in routed:
        needed.update(peer.name for peer in part(name).peers if peer.required)
    if PartName.MONOLITH in needed:
        needed.update(_monolith_peers(_last_live_phase(phase)))
    order = (PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI, PartName.MONOLITH)
    return tuple(name for name in order if name in needed)


def strangler_stack(
    port: int, phase: int, private_ports: Iterator[int], *, state_dir: Path | None = None
) -> Stack:
    """The edge at `port` routing `phase`, behind it `strangler_parts(phase)` on `private_ports`.

    Each part is wired to the parts it calls; the edge to all of them. The monolith, behind
    the edge, believes one X-Forwarded-For hop as the services do, and calls the services
    that own its users and photos in this phase.
    """
    servers: dict[PartName, Server] = {}
    for name in strangler_parts(phase):
        described = part(name)
        wanted = [peer.name for peer in described.peers if peer.required]
        settings: dict[str, str] = {}
        if name is PartName.MONOLITH:
            # The owners of the later phases too: its database says when to call them.
            wanted = list(_monolith_peers(_last_live_phase(phase)))
            settings["SNAPPY_TRUSTED_PROXY_HOPS"] = "1"
        peers = {peer: servers[peer].url for peer in wanted}
        servers[name] = Server(described, next(private_ports), peers, settings)
    edge_settings = {EDGE_PHASE: str(phase)}
    if state_dir is not None:
        edge_settings.update(edge_shadow_settings(state_dir))
    edge_peers = {name: server.url for name, server in servers.items()}
    edge = Server(part(PartName.EDGE), port, edge_peers, edge_settings)
    note = f"The pages are at {edge.url}/ and the API at {edge.url}/api/v1."
    return Stack(STRANGLER, (*servers.values(), edge), note, phase=phase)


def _last_live_phase(phase: int) -> int:
    """The last phase live cutovers can walk `phase` to: the last with a monolith process."""
    return max(phase, _LAST_PHASE_WITH_MONOLITH)


def _monolith_peers(phase: int) -> tuple[PartName, ...]:
    """The services the monolith calls at `phase`: the owners of its users, then of its photos."""
    owners = (PartName.USER_SERVICE, PartName.PHOTO_SERVICE)
    return tuple(owner for owner, first_phase in zip(owners, (1, 2), strict=True) if phase >= first_phase)


def edge_shadow_settings(state_dir: Path) -> dict[str, str]:
    """Where a local edge finds its control file and writes its shadow records: under `state_dir`."""
    return {
        CONTROL_FILE_VARIABLE: str(state_dir / EDGE_CONTROL_FILE),
        SHADOW_DIR_VARIABLE: str(state_dir / SHADOW_DIR),
    }


def with_own_stores(stack: Stack, prefix: str) -> Stack:
    """`stack` with databases and buckets named `prefix_<part>`, so it shares no data with another.

    The benchmarks run stacks of their own beside a developer's (`snappy_<random>...`), and
    drop what they created by these names at the end.
    """

    def own(server: Server) -> Server:
        if server.database is None and server.bucket is None:
            return server
        stem = server.name.replace("-", "_")
        return replace(
            server,
            part=replace(
                server.part,
                database=None if server.database is None else f"{prefix.replace('-', '_')}_{stem}",
                bucket=None if server.bucket is None else f"{prefix.replace('_', '-')}-{server.name}",
            ),
        )

    return replace(stack, servers=tuple(own(server) for server in stack.servers))


def drop_stores_at_exit(
    cleanup: ExitStack, stacks: Sequence[Stack], services: BackingServices, *, note: Callable[[str], None]
) -> None:
    """Drop every database and bucket of `stacks` (`with_own_stores`) when `cleanup` closes.

    Registered before the servers start, so the drops run after they have stopped. A drop
    that fails is `note`d and the others still run.
    """

    def release(what: str, drop: Callable[[], None]) -> None:
        try:
            drop()
        except DevstackError as error:
            note(f"could not drop {what}: {one_line(error)}")

    for server in (server for stack in stacks for server in stack.servers):
        if server.database is not None:
            cleanup.callback(
                release,
                f"database {server.database}",
                partial(drop_database, services.postgres_url, server.database),
            )
        if server.bucket is not None:
            cleanup.callback(
                release, f"bucket {server.bucket}", partial(delete_bucket, services.s3, server.bucket)
            )


def plan_stacks(
    choice: str,
    port: int,
    *,
    state_dir: Path | None = None,
    phase: int | None = None,
    replicas: int = 1,
) -> list[Stack]:
    """The stacks `snappy up --stack <choice> --port <port>` runs; "both" uses `port` and `port + 1`.

    With `state_dir`, the edge keeps its shadow state there; with both stacks, the monolith can be
    the edge's shadow candidate. `phase` is the strangler stack's (0 when omitted), and only its.
    `replicas` is how many processes of each service the microservices run behind their edge
    (REPLICA_STACKS only; "both" runs one monolith still).
    """
    if choice not in STACKS:
        raise StackError(f"unknown stack {choice!r}; choose one of: {', '.join(STACKS)}")
    if replicas < 1:
        raise StackError(f"--replicas must be at least 1, got {replicas}")
    if replicas > 1 and choice not in REPLICA_STACKS:
        raise StackError(
            f"--replicas is for the {' and '.join(REPLICA_STACKS)} stacks, whose services are behind"
            f" the edge; the {choice} stack runs one process of each part"
        )
    if choice == STRANGLER:
        chosen = 0 if phase is None else phase
        private = iter([candidate for candidate in free_ports(len(PartName)) if candidate != port])
        return [strangler_stack(port, chosen, private, state_dir=state_dir)]
    if phase is not None:
        raise StackError(f"--phase is the strangler stack's; the {choice} stack has no phases")
    names = ("monolith", "microservices") if choice == "both" else (choice,)
    public_ports = [port + offset for offset in range(len(names))]
    needed = _MICROSERVICES_PRIVATE_PORTS * replicas * names.count("microservices")
    # Among `needed + len(public_ports)` distinct free ports, at least `needed` are not public.
    candidates = free_ports(needed + len(public_ports))
    spare_ports = iter([candidate for candidate in candidates if candidate not in public_ports])
    monolith_url = f"http://{LOOPBACK}:{public_ports[0]}" if choice == "both" else None

    def service_ports() -> list[int]:
        """One port for each replica of a service."""
        return [next(spare_ports) for _ in range(replicas)]

    return [
        monolith_stack(public_port)
        if name == "monolith"
        else microservices_stack(
            public_port,
            service_ports(),
            service_ports(),
            service_ports(),
            monolith_url=monolith_url,
            state_dir=state_dir,
        )
        for name, public_port in zip(names, public_ports, strict=True)
    ]


def local_stack_description(
    stacks: Sequence[Stack], services: BackingServices, *, workers: int | None = None
) -> LocalStack | None:
    """Where the data migration finds both sides of a side-by-side run or of the strangler stack; else None.

    `snappy migrate` and the rehearsal read it (as `stack.json` in the state folder) to move
    the monolith's data into the microservices' databases and bucket.
    """
    strangler = next((stack for stack in stacks if stack.name == STRANGLER), None)
    if strangler is not None:
        return _strangler_description(strangler, services, workers=workers)
    by_part = {server.part.name: server for stack in stacks for server in stack.servers}
    entries = {stack.name: stack.entry.url for stack in stacks}
    monolith = by_part.get(PartName.MONOLITH)
    users = by_part.get(PartName.USER_SERVICE)
    photos = by_part.get(PartName.PHOTO_SERVICE)
    edge_settings = by_part[PartName.EDGE].settings if PartName.EDGE in by_part else {}
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
        edge_control_file=edge_settings.get(CONTROL_FILE_VARIABLE),
        shadow_dir=edge_settings.get(SHADOW_DIR_VARIABLE),
        workers=workers,
    )


def _strangler_description(stack: Stack, services: BackingServices, *, workers: int | None) -> LocalStack:
    """The strangler stack's stores by their parts' names, whichever parts run in its phase."""
    monolith, users, photos = (
        part(name) for name in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE)
    )
    if monolith.database is None or monolith.bucket is None or users.database is None:
        raise StackError("the topology names no database or bucket for a part that owns one")
    if photos.database is None or photos.bucket is None:
        raise StackError("the topology names no database or bucket for photo-service")
    by_part = {server.part.name: server for server in stack.servers}
    edge_settings = stack.entry.settings
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
        monolith_url=by_part[PartName.MONOLITH].url if PartName.MONOLITH in by_part else None,
        edge_control_file=edge_settings.get(CONTROL_FILE_VARIABLE),
        shadow_dir=edge_settings.get(SHADOW_DIR_VARIABLE),
        workers=workers,
        strangler_phase=stack.phase,
        strangler_url=stack.entry.url,
        part_urls={str(server.name): server.url for server in stack.servers},
    )


def migrate_database(server: Server, *, services: BackingServices, logs: Path) -> None:
    """Create `server`'s database if missing and migrate it to the newest schema, without starting it.

    For stores that outlive their part's process: the strangler stack's phase 4 runs no
    monolith, and still moves the monolith's data.
    """
    if server.database is None:
        raise StackError(f"{server.name} owns no database to migrate")
    logs.mkdir(parents=True, exist_ok=True)
    # The schema migration needs its database alone, not the peers the part would call.
    environment = {name: value for name, value in os.environ.items() if name not in _REWIRING_VARIABLES}
    environment[DATABASE_URL] = database_url(services.postgres_url, server.database)
    create_database(services.postgres_url, server.database)
    if server.bucket is not None:
        create_bucket(services.s3, server.bucket)
    _migrate(server, environment, logs / f"{server.name}-migrate.log")


@contextmanager
def published_local_stack(
    path: Path, stacks: Sequence[Stack], services: BackingServices, *, workers: int | None = None
) -> Iterator[LocalStack | None]:
    """Write the description of a side-by-side run to `path` while the context lasts, then remove it.

    Single stacks get no description (the migration needs both sides): None, and no file.
    """
    description = local_stack_description(stacks, services, workers=workers)
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
        if importlib.util.find_spec(server.part.package) is None:
            raise StackError(
                f"{server.name} is not installed in this environment"
                f" (run: pip install -e {server.part.project})"
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
    workers: int | None = None,
) -> dict[str, str]:
    """The environment a server's processes run with: `base` plus the settings the topology gives it.

    `workers` (SNAPPY_WORKERS) goes to the monolith and each service alike, so that both
    versions serve with as many processes per server; the edge keeps its own.
    """
    environment = {name: value for name, value in base.items() if name not in _REWIRING_VARIABLES}
    environment["PYTHONUNBUFFERED"] = "1"
    wiring = Wiring(
        bind=f"{LOOPBACK}:{server.port}",
        peers=server.peers,
        database_url=None
        if server.database is None
        else database_url(services.postgres_url, server.database),
        bucket=server.bucket,
        object_storage=ObjectStorage(
            endpoint_url=services.s3.endpoint_url,
            region=services.s3.region,
            access_key_id=services.s3.access_key_id,
            secret_access_key=services.s3.secret_access_key,
        ),
        jwt_private_key_file=str(stack_secrets.jwt_private_key_path),
        session_secret=stack_secrets.session_secret,
    )
    environment.update(part_environment(server.part, wiring))
    if workers is not None and server.part.name is not PartName.EDGE:
        environment[WORKERS_SETTING] = str(workers)
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
    workers: int | None = None,
) -> Iterator[list[RunningServer]]:
    """Provision, migrate and start every server in order, each part ready before the next starts.

    The replicas of a part start together and share its stores, migrated once. They stop in
    the reverse order when the context ends, so no server outlives one it calls.
    """
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as started:
        running: list[RunningServer] = []
        migrated: set[str] = set()
        servers = (server for stack in stacks for server in stack.servers)
        for _, replicas in itertools.groupby(servers, key=lambda server: server.part.name):
            starting: list[RunningServer] = []
            for server in replicas:
                environment = server_environment(
                    base_environment, server, services=services, stack_secrets=stack_secrets, workers=workers
                )
                if server.bucket is not None:
                    create_bucket(services.s3, server.bucket)
                if server.database is not None and server.database not in migrated:
                    create_database(services.postgres_url, server.database)
                    progress(f"Migrating {server.part.name}'s database ({server.database})...")
                    _migrate(server, environment, logs / f"{server.part.name}-migrate.log")
                    migrated.add(server.database)
                progress(f"Starting {server.name}...")
                log_path = logs / f"{server.name}.log"
                starting.append(started.enter_context(_running_server(server, environment, log_path)))
            # Replicas call none of each other: they boot side by side, each waited for.
            for running_server in starting:
                _wait_until_ready(running_server)
            running.extend(starting)
        yield running


def watch(running: Sequence[RunningServer], *, retirement: MonolithRetirement | None = None) -> NoReturn:
    """Wait while every server runs; raise ServerFailed for the first one that exits.

    With `retirement` (entered), the strangler's monolith is the one it keeps: none while
    it is retired, and a failure to start it again is the stack's failure.
    """
    while True:
        watched = list(running)
        if retirement is not None:
            retirement.raise_failure()
            watched = [item for item in watched if item.server.part.name is not PartName.MONOLITH]
            current = retirement.current
            watched += [] if current is None else [current]
        for item in watched:
            status = item.process.poll()
            if status is not None:
                raise ServerFailed(f"{item.server.name} exited unexpectedly (status {status})", item.log_path)
        time.sleep(0.5)


class MonolithRetirement:
    """The strangler's monolith process, kept in step with the phase its edge routes by.

    Phase 4 retires the monolith's process. `snappy cutover --to 4` moves the edge to phase 4
    and waits until the monolith no longer answers; `--to 3` moves the edge to phase 3 (which
    routes nothing to the monolith) and waits until it answers again before recording phase
    3. The process that runs the stack does the stopping and the starting, on a thread of
    its own while this is entered, reading the edge's control file every half second: only
    it holds the monolith's settings, secrets and log, and it must not take a stopped part
    for a crashed one (`watch`).
    """

    def __init__(
        self,
        started: RunningServer,
        control_file: Path,
        started_phase: int,
        *,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._started = started
        self._control_file = control_file
        self._started_phase = started_phase
        self._progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monolith-retirement", daemon=True)
        self._failure: ServerFailed | None = None
        self.current: RunningServer | None = started

    def __enter__(self) -> MonolithRetirement:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        # A start in progress finishes first (at most the readiness timeout).
        self._thread.join(timeout=_READY_TIMEOUT_SECONDS + 5)
        current = self.current
        if current is not None and current is not self._started:
            # The monolith started here; the stack stops the one it started itself.
            stop_process(current.process, grace_seconds=_GUNICORN_STOP_GRACE_SECONDS, whole_group=True)

    def raise_failure(self) -> None:
        """Raise the ServerFailed of a monolith that would not start again, if there was one."""
        if self._failure is not None:
            raise self._failure

    def follow(self) -> None:
        """Stop or start the monolith if the edge's phase says so (ServerFailed if it will not start)."""
        try:
            phase = read_control(self._control_file).phase_or(self._started_phase)
        except ControlFileError:
            return  # the cutover that writes it reports a damaged file; the next tick reads again
        current = self.current
        if phase >= RETIRING_PHASE and current is not None:
            stop_process(current.process, grace_seconds=_GUNICORN_STOP_GRACE_SECONDS, whole_group=True)
            self.current = None
            self._progress(f"Phase {phase}: the monolith's process stopped (retired).")
        elif phase < RETIRING_PHASE and current is None:
            self._progress(f"Phase {phase}: starting the monolith again...")
            server, log_path, environment = (
                self._started.server,
                self._started.log_path,
                self._started.environment,
            )
            restarted = RunningServer(
                server, _start_process(server, environment, log_path), log_path, environment
            )
            self.current = restarted
            _wait_until_ready(restarted)
            self._progress(f"Phase {phase}: the monolith answers again at {server.url}.")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.follow()
            except ServerFailed as failure:
                self._failure = failure
                return
            self._stop.wait(_FOLLOW_INTERVAL_SECONDS)


def _migrate(server: Server, environment: Mapping[str, str], log_path: Path) -> None:
    with log_path.open("ab") as log:
        try:
            completed = subprocess.run(  # noqa: S603 - a fixed argv built here
                [sys.executable, *_schema_migration(server.part).arguments],
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
    """Run `server` as its part starts (gunicorn, or its own command) while the context lasts."""
    process = _start_process(server, environment, log_path)
    try:
        yield RunningServer(server, process, log_path, environment)
    finally:
        stop_process(process, grace_seconds=_GUNICORN_STOP_GRACE_SECONDS, whole_group=True)


def _start_process(server: Server, environment: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    command = server.part.start
    program = sys.executable if command.program == "python" else str(_scripts_dir() / command.program)
    arguments = [program, *command.arguments]
    with log_path.open("ab") as log:
        try:
            return subprocess.Popen(  # noqa: S603 - a fixed argv built here
                arguments,
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches only `snappy`, which then stops it in order.
                start_new_session=True,
            )
        except OSError as error:
            raise StackError(f"cannot start {server.name}: {one_line(error)}") from error


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


def _schema_migration(described: Part) -> Command:
    command = described.schema_migration
    if command is None:
        raise StackError(f"{described.name} owns no database to migrate")
    return command


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
