"""Snappy's parts and how each is wired: the one description every launcher reads.

Each part is named once, here: the monolith, the three services, the edge, and the two
jobs (a schema migration per database, and the data migration). For each part this says
what it is, how it starts, the settings every deployment of it gets, the peers it calls,
the stores it owns and the route groups it can serve.

Who reads it:

- the devstack launcher (`snappy up`, `snappy rehearse`: `snappy_devstack.stack`);
- the test fixtures and the Pact provider verification (`tests/support/parts.py`);
- the edge's routing table (`snappy_edge.routing`), whose cells are parts that serve the group;
- the data migration, whose target databases are the parts that own them;
- the Kubernetes manifests (`snappy deploy generate`: `snappy_devstack.deploy`).

A launcher supplies only what a deployment decides: addresses, stores and secrets (a
`Wiring`); `environment()` turns a part and its wiring into the process's environment.
Adding a setting to a part is one edit of `PARTS` below, and every launcher passes it on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "BIND",
    "DATABASE_URL",
    "EDGE_PHASE",
    "JOBS",
    "JWT_PRIVATE_KEY_FILE",
    "PARTS",
    "S3_ACCESS_KEY_ID",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_SECRET_ACCESS_KEY",
    "SESSION_SECRET",
    "Command",
    "Job",
    "JobName",
    "ObjectStorage",
    "Part",
    "PartName",
    "Peer",
    "RouteGroupName",
    "TopologyError",
    "Wiring",
    "environment",
    "part",
    "parts_serving",
    "url_setting",
]


class PartName(StrEnum):
    """A part of Snappy that runs as its own process."""

    MONOLITH = "monolith"
    USER_SERVICE = "user-service"
    PHOTO_SERVICE = "photo-service"
    WEB_UI = "web-ui"
    EDGE = "edge"


class JobName(StrEnum):
    """A part of Snappy that runs to completion: a Kubernetes Job, a step of a launcher."""

    SCHEMA_MIGRATION = "schema-migration"
    DATA_MIGRATION = "data-migration"


class RouteGroupName(StrEnum):
    """Public routes that move from one part to another together."""

    USERS = "users and tokens"
    PHOTOS = "photos, shares, feed"
    PAGES = "web pages"


# The settings a launcher fills from a part's wiring. A part's own settings are in PARTS.
BIND = "SNAPPY_BIND"
DATABASE_URL = "SNAPPY_DATABASE_URL"
S3_BUCKET = "SNAPPY_S3_BUCKET"
S3_ENDPOINT_URL = "SNAPPY_S3_ENDPOINT_URL"
S3_REGION = "SNAPPY_S3_REGION"
S3_ACCESS_KEY_ID = "SNAPPY_S3_ACCESS_KEY_ID"
S3_SECRET_ACCESS_KEY = "SNAPPY_S3_SECRET_ACCESS_KEY"  # noqa: S105 - a setting's name
JWT_PRIVATE_KEY_FILE = "SNAPPY_JWT_PRIVATE_KEY_FILE"
SESSION_SECRET = "SNAPPY_SECRET_KEY"  # noqa: S105 - a setting's name
# Which phase of the strangler the edge routes (0-4); a deployment's choice, see snappy_edge.routing.
EDGE_PHASE = "SNAPPY_EDGE_PHASE"


class TopologyError(ValueError):
    """A wiring that does not give a part what it needs."""


def url_setting(name: PartName) -> str:
    """The setting that holds a peer's base URL: SNAPPY_USER_SERVICE_URL for user-service."""
    return f"SNAPPY_{name.name}_URL"


@dataclass(frozen=True)
class Command:
    """A program and its arguments; launchers resolve the program in their own environment."""

    program: str
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class Peer:
    """Another part this one calls, at the URL its wiring gives."""

    name: PartName
    # A required peer must be wired; the edge's peers depend on its phase, so they are optional.
    required: bool = True

    @property
    def setting(self) -> str:
        """The setting that carries the peer's URL."""
        return url_setting(self.name)


@dataclass(frozen=True)
class Part:
    """A server: it answers HTTP under gunicorn until stopped, and is ready when GET /readyz says 200."""

    name: PartName
    summary: str
    package: str
    # The folder whose pyproject.toml installs the package and whose Dockerfile builds its image.
    project: str
    # Settings every deployment of the part gets, whichever launcher starts it.
    settings: Mapping[str, str] = field(default_factory=dict)
    peers: tuple[Peer, ...] = ()
    # The stores it owns, by their default names; no other part reads or writes them.
    database: str | None = None
    bucket: str | None = None
    # Holds the JWT signing key; every other part verifies tokens with the signer's JWKS.
    signs_tokens: bool = False
    # Holds the session-cookie secret; every part with pages shares it, so sessions pass between them.
    signs_sessions: bool = False
    serves: tuple[RouteGroupName, ...] = ()
    # How it starts when not as a WSGI app under gunicorn (the edge runs its front and lane).
    command: Command | None = None

    @property
    def start(self) -> Command:
        """How the part starts: its own command, else gunicorn with its settings module and WSGI app."""
        if self.command is not None:
            return self.command
        return Command("gunicorn", ("-c", f"python:{self.package}.gunicorn_conf", f"{self.package}.wsgi:app"))

    @property
    def schema_migration(self) -> Command | None:
        """The schema-migration job of a part that owns a database; None for the others."""
        if self.database is None:
            return None
        return Command("python", ("-m", self.package, "migrate"))


@dataclass(frozen=True)
class Job:
    """A part that runs to completion."""

    name: JobName
    summary: str
    # None for the schema migration: each part it writes runs its own (`Part.schema_migration`).
    package: str | None
    project: str | None
    command: Command | None
    # The parts whose stores it reads and writes.
    reads: tuple[PartName, ...]
    writes: tuple[PartName, ...]


# user-service and web-ui sit behind one proxy (the edge; for log-ins from pages, web-ui too),
# so they believe one X-Forwarded-For hop: the log-in throttle counts by the visitor's address.
_BEHIND_ONE_PROXY = {"SNAPPY_TRUSTED_PROXY_HOPS": "1"}

PARTS: Mapping[PartName, Part] = {
    part.name: part
    for part in (
        Part(
            PartName.MONOLITH,
            "The original Snappy: API, pages, users and photos in one Flask application.",
            package="snappy_monolith",
            project="monolith",
            # From phase 1 of the strangler its pages reach users through user-service, from
            # phase 2 photos through photo-service (snappy_monolith.ownership); before, neither.
            peers=(Peer(PartName.USER_SERVICE, required=False), Peer(PartName.PHOTO_SERVICE, required=False)),
            database="snappy_monolith",
            bucket="snappy-monolith",
            signs_tokens=True,
            signs_sessions=True,
            serves=(RouteGroupName.USERS, RouteGroupName.PHOTOS, RouteGroupName.PAGES),
        ),
        Part(
            PartName.USER_SERVICE,
            "Accounts, passwords, access tokens and the JWKS that verifies them.",
            package="snappy_user_service",
            project="microservices/user-service",
            settings=_BEHIND_ONE_PROXY,
            database="snappy_users",
            signs_tokens=True,
            serves=(RouteGroupName.USERS,),
        ),
        Part(
            PartName.PHOTO_SERVICE,
            "Photos, their files and thumbnails, shares and the feed.",
            package="snappy_photo_service",
            project="microservices/photo-service",
            peers=(Peer(PartName.USER_SERVICE),),
            database="snappy_photos",
            bucket="snappy-photos",
            serves=(RouteGroupName.PHOTOS,),
        ),
        Part(
            PartName.WEB_UI,
            "The pages, rendered from the two services' public API; no store of its own.",
            package="snappy_web_ui",
            project="microservices/web-ui",
            settings=_BEHIND_ONE_PROXY,
            peers=(Peer(PartName.USER_SERVICE), Peer(PartName.PHOTO_SERVICE)),
            signs_sessions=True,
            serves=(RouteGroupName.PAGES,),
        ),
        Part(
            PartName.EDGE,
            "The public entry: sends each request to the part its phase routes the path to.",
            package="snappy_edge",
            project="migration/edge",
            # Caddy in front (plain reads straight to the parts), the Flask lane behind it.
            command=Command("python", ("-m", "snappy_edge")),
            peers=tuple(
                Peer(name, required=False)
                for name in (
                    PartName.MONOLITH,
                    PartName.USER_SERVICE,
                    PartName.PHOTO_SERVICE,
                    PartName.WEB_UI,
                )
            ),
        ),
    )
}

JOBS: Mapping[JobName, Job] = {
    job.name: job
    for job in (
        Job(
            JobName.SCHEMA_MIGRATION,
            "Brings one part's database to its newest schema; each database owner has its own.",
            package=None,
            project=None,
            command=None,
            reads=(),
            writes=tuple(name for name, part in PARTS.items() if part.schema_migration is not None),
        ),
        Job(
            JobName.DATA_MIGRATION,
            "Moves the monolith's rows and objects into the services' stores and proves they arrived.",
            package="snappy_migration",
            project="migration/data",
            command=Command("snappy-migrate", ("run",)),
            reads=(PartName.MONOLITH,),
            writes=(PartName.USER_SERVICE, PartName.PHOTO_SERVICE),
        ),
    )
}


def part(name: PartName | str) -> Part:
    """The part called `name`."""
    return PARTS[PartName(name)]


def parts_serving(group: RouteGroupName) -> tuple[PartName, ...]:
    """The parts that can serve `group`, so the routing table may send it to them."""
    return tuple(name for name, described in PARTS.items() if group in described.serves)


@dataclass(frozen=True)
class ObjectStorage:
    """An S3-compatible endpoint and the credentials to use it."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Wiring:
    """What one deployment of a part is given: its address, its peers' URLs, its stores, its secrets."""

    bind: str
    peers: Mapping[PartName, str] = field(default_factory=dict)
    database_url: str | None = None
    bucket: str | None = None
    object_storage: ObjectStorage | None = None
    jwt_private_key_file: str | None = None
    session_secret: str | None = None


def environment(described: Part, wiring: Wiring) -> dict[str, str]:
    """The SNAPPY_* settings a process of `described` runs with under `wiring`.

    A launcher adds them to its own base environment; TopologyError names what is missing.
    """
    missing = [
        need
        for need, wanted, given in (
            ("a database URL", described.database is not None, wiring.database_url),
            ("a bucket", described.bucket is not None, wiring.bucket),
            ("an object storage endpoint", described.bucket is not None, wiring.object_storage),
            ("the JWT signing key file", described.signs_tokens, wiring.jwt_private_key_file),
            ("the session secret", described.signs_sessions, wiring.session_secret),
        )
        if wanted and given is None
    ] + [
        f"the URL of {peer.name}"
        for peer in described.peers
        if peer.required and peer.name not in wiring.peers
    ]
    if missing:
        raise TopologyError(f"{described.name} needs {', '.join(missing)}")
    unknown = sorted(set(wiring.peers) - {peer.name for peer in described.peers})
    if unknown:
        raise TopologyError(f"{described.name} does not call {', '.join(unknown)}")

    settings = {BIND: wiring.bind, **described.settings}
    settings.update(
        {peer.setting: wiring.peers[peer.name] for peer in described.peers if peer.name in wiring.peers}
    )
    if described.database is not None and wiring.database_url is not None:
        settings[DATABASE_URL] = wiring.database_url
    if described.bucket is not None and wiring.bucket is not None and wiring.object_storage is not None:
        storage = wiring.object_storage
        settings.update(
            {
                S3_BUCKET: wiring.bucket,
                S3_ENDPOINT_URL: storage.endpoint_url,
                S3_REGION: storage.region,
                S3_ACCESS_KEY_ID: storage.access_key_id,
                S3_SECRET_ACCESS_KEY: storage.secret_access_key,
            }
        )
    if described.signs_tokens and wiring.jwt_private_key_file is not None:
        settings[JWT_PRIVATE_KEY_FILE] = wiring.jwt_private_key_file
    if described.signs_sessions and wiring.session_secret is not None:
        settings[SESSION_SECRET] = wiring.session_secret
    return settings
