"""Snappy's parts as the tests start them: wired by the topology, on the session's stores.

Every fixture that runs a part under gunicorn (the live stacks, the reliability stacks, the
Pact providers) builds its environment here, from `snappy_topology`, as `snappy up` does;
a test adds only what it is about (a smaller thread pool, a shorter revocation TTL).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from snappy_devstack.backing import BackingServices
from snappy_devstack.processes import LOOPBACK, free_ports
from snappy_topology import EDGE_PHASE, ObjectStorage, PartName, Wiring, environment, part
from tests.support.gunicorn import launch_gunicorn, wait_until_ready
from tests.support.provisioning import MicroservicesStores
from tests.support.session import SESSION_SECRET

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "MicroservicesUrls",
    "PartWiring",
    "part_environment",
    "spawn_microservices",
    "spawn_part",
    "spawn_services",
]


def part_environment(
    name: PartName,
    backing: BackingServices,
    *,
    port: int,
    base: Mapping[str, str],
    peers: Mapping[PartName, str] | None = None,
    database_url: str | None = None,
    bucket: str | None = None,
    s3_endpoint_url: str | None = None,
    key_file: Path | None = None,
    session_secret: str | None = None,
) -> dict[str, str]:
    """`base` plus the settings the topology gives part `name` on these stores, listening on `port`.

    `s3_endpoint_url` replaces the session's S3 endpoint (a fault proxy in front of it).
    """
    wiring = Wiring(
        bind=f"{LOOPBACK}:{port}",
        peers=dict(peers or {}),
        database_url=database_url,
        bucket=bucket,
        object_storage=ObjectStorage(
            endpoint_url=s3_endpoint_url or backing.s3.endpoint_url,
            region=backing.s3.region,
            access_key_id=backing.s3.access_key_id,
            secret_access_key=backing.s3.secret_access_key,
        ),
        jwt_private_key_file=None if key_file is None else str(key_file),
        session_secret=session_secret,
    )
    return {**base, **environment(part(name), wiring)}


class PartWiring(TypedDict, total=False):
    """What a part is wired to besides its port and base environment (see `part_environment`)."""

    peers: Mapping[PartName, str] | None
    database_url: str | None
    bucket: str | None
    s3_endpoint_url: str | None
    key_file: Path | None


def spawn_part(
    name: PartName,
    backing: BackingServices,
    log_path: Path,
    *,
    base: Mapping[str, str],
    **wiring: Unpack[PartWiring],
) -> tuple[subprocess.Popen[bytes], str]:
    """Start part `name` under gunicorn on a free port, wired by the topology; wait until it is ready."""
    [port] = free_ports(1)
    part_settings = part_environment(
        name, backing, port=port, base=base, session_secret=SESSION_SECRET, **wiring
    )
    process = launch_gunicorn(part(name).package, part_settings, port, log_path)
    base_url = f"http://{LOOPBACK}:{port}"
    wait_until_ready(base_url, process, log_path)
    return process, base_url


@dataclass(frozen=True)
class MicroservicesUrls:
    """Where a started set of microservices answers."""

    edge_url: str
    user_service_url: str
    photo_service_url: str
    web_ui_url: str


def spawn_services(
    backing: BackingServices,
    common: Mapping[str, str],
    stores: MicroservicesStores,
    *,
    key_file: Path,
    log_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> dict[PartName, str]:
    """Start user-service, then photo-service wired to it, on these stores; where each answers.

    Each process joins `processes` as soon as it starts, so the caller stops every one that
    started even when a later one fails.
    """
    user_process, user_url = spawn_part(
        PartName.USER_SERVICE,
        backing,
        log_path,
        base=common,
        database_url=stores.user_database_url,
        key_file=key_file,
    )
    processes.append(user_process)
    services = {PartName.USER_SERVICE: user_url}
    photo_process, photo_url = spawn_part(
        PartName.PHOTO_SERVICE,
        backing,
        log_path,
        base=common,
        peers=services,
        database_url=stores.photo_database_url,
        bucket=stores.bucket,
    )
    processes.append(photo_process)
    return {**services, PartName.PHOTO_SERVICE: photo_url}


def spawn_microservices(
    backing: BackingServices,
    common: dict[str, str],
    *,
    user_database_url: str,
    photo_database_url: str,
    bucket: str,
    key_file: Path,
    log_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> MicroservicesUrls:
    """Start user-service, photo-service, web-ui and the edge (phase 3) on these stores, in order.

    Each is wired by the topology, as `snappy up` wires it, and joins `processes` as it starts.
    """
    services = spawn_services(
        backing,
        common,
        MicroservicesStores(user_database_url, photo_database_url, bucket),
        key_file=key_file,
        log_path=log_path,
        processes=processes,
    )
    web_process, web_url = spawn_part(PartName.WEB_UI, backing, log_path, base=common, peers=services)
    processes.append(web_process)
    edge_process, edge_url = spawn_part(
        PartName.EDGE,
        backing,
        log_path,
        base={**common, EDGE_PHASE: "3"},
        peers={**services, PartName.WEB_UI: web_url},
    )
    processes.append(edge_process)
    return MicroservicesUrls(
        edge_url, services[PartName.USER_SERVICE], services[PartName.PHOTO_SERVICE], web_url
    )
