"""Stacks of Snappy started for one reliability test, on stores of their own.

Each stack puts a `TcpSwitch` in front of the component that serves uploads (the
monolith, or photo-service behind the edge), so a test can start a second instance of
it and move the traffic over, as a rolling update does. Database and S3 addresses can be
rerouted through a proxy, so a test can take either away without touching the shared
servers.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from snappy_devstack.backing import (
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
)
from snappy_devstack.processes import free_ports, stop_process
from snappy_topology import EDGE_PHASE, PartName
from tests.support.gunicorn import launch_gunicorn, spawn_gunicorn, wait_until_ready
from tests.support.integrity import ReadBack, StoreAudit, audit_stores, read_back
from tests.support.load import LoadResult
from tests.support.parts import part_environment
from tests.support.provisioning import migrate, provision_monolith, release_monolith
from tests.support.session import SESSION_SECRET, SESSION_TAG, SIGNING_KEY_PEM
from tests.support.tcp_switch import TcpSwitch
from tests.support.versions import VERSIONS

__all__ = ["VERSIONS", "Instance", "StackUnderLoad", "StoreRoutes", "start_stack"]


@dataclass(frozen=True)
class Instance:
    """One gunicorn master and where it answers."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def address(self) -> tuple[str, int]:
        """Host and port, for the switch."""
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        return parts.hostname, parts.port


@dataclass(frozen=True)
class StoreRoutes:
    """Where the stack reaches PostgreSQL and S3 instead of the real addresses (a proxy)."""

    postgres: tuple[str, int] | None = None
    s3_endpoint_url: str | None = None


@dataclass
class StackUnderLoad:
    """One version of Snappy under gunicorn, with the upload component behind a switch."""

    public_url: str
    switch: TcpSwitch
    upload_instance: Instance
    # Starts one more instance of the upload component on the same stores, ready to serve.
    spawn_upload_instance: Callable[[], Instance]
    # Reads every write a load saw acknowledged back, then audits the stores: once the load stopped.
    verify_writes: Callable[[LoadResult], tuple[ReadBack, StoreAudit]]


def _rerouted_database_url(url: str, postgres: tuple[str, int] | None) -> str:
    if postgres is None:
        return url
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{credentials}{postgres[0]}:{postgres[1]}"))


def _s3_environment(backing: BackingServices, bucket: str, routes: StoreRoutes) -> dict[str, str]:
    return {
        "SNAPPY_S3_BUCKET": bucket,
        "SNAPPY_S3_ENDPOINT_URL": routes.s3_endpoint_url or backing.s3.endpoint_url,
        "SNAPPY_S3_REGION": backing.s3.region,
        "SNAPPY_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
        "SNAPPY_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
    }


@contextmanager
def start_stack(
    backing: BackingServices,
    version: str,
    folder: Path,
    *,
    routes: StoreRoutes | None = None,
    extra_environment: dict[str, str] | None = None,
) -> Iterator[StackUnderLoad]:
    """Start `version` on new databases and a new bucket; stop it and drop them afterwards."""
    routes = routes or StoreRoutes()
    name = f"snappy_rel_{SESSION_TAG}_{secrets.token_hex(2)}"
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    log_path = folder / f"{version}.log"
    common = {
        **os.environ,
        "SNAPPY_THREADS": "4",
        "SNAPPY_GRACEFUL_TIMEOUT": "10",
        "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file),
        "SNAPPY_SECRET_KEY": SESSION_SECRET,
        **(extra_environment or {}),
    }
    processes: list[subprocess.Popen[bytes]] = []
    # What to undo at the end, in reverse order, whatever was reached.
    releases: list[Callable[[], None]] = []

    def spawn(package: str, environment: dict[str, str]) -> Instance:
        process, url = spawn_gunicorn(package, environment, log_path)
        processes.append(process)
        return Instance(process, url)

    def launch(package: str, environment: dict[str, str], port: int) -> Instance:
        """Start without waiting: several processes boot at once, then are waited for together."""
        process = launch_gunicorn(package, environment, port, log_path)
        processes.append(process)
        return Instance(process, f"http://127.0.0.1:{port}")

    try:
        if version == "monolith":
            resources = provision_monolith(backing, name)
            releases.append(lambda: release_monolith(backing, name, resources))
            upload_package = "snappy_monolith"
            upload_environment = {
                **common,
                "SNAPPY_DATABASE_URL": _rerouted_database_url(resources.database_url, routes.postgres),
                **_s3_environment(backing, resources.bucket, routes),
            }
            first = spawn(upload_package, upload_environment)
            switch = TcpSwitch(first.address)
            releases.append(switch.close)
            public_url = switch.url
            photo_database_url, bucket = resources.database_url, resources.bucket
        else:
            user_database_url = create_database(backing.postgres_url, f"{name}_users", drop_existing=True)
            releases.append(lambda: drop_database(backing.postgres_url, f"{name}_users"))
            photo_database_url = create_database(backing.postgres_url, f"{name}_photos", drop_existing=True)
            releases.append(lambda: drop_database(backing.postgres_url, f"{name}_photos"))
            bucket = name.replace("_", "-")
            create_bucket(backing.s3, bucket)
            releases.append(lambda: delete_bucket(backing.s3, bucket))
            with ThreadPoolExecutor(2) as pool:
                list(
                    pool.map(
                        migrate,
                        ["snappy_user_service", "snappy_photo_service"],
                        [user_database_url, photo_database_url],
                    )
                )
            user_port, photo_port, edge_port = free_ports(3)

            def wired(
                name: PartName,
                port: int,
                *,
                database_url: str | None = None,
                peers: Mapping[PartName, str] | None = None,
                bucket: str | None = None,
            ) -> dict[str, str]:
                return part_environment(
                    name,
                    backing,
                    port=port,
                    base=common,
                    peers=peers,
                    database_url=database_url,
                    bucket=bucket,
                    s3_endpoint_url=routes.s3_endpoint_url,
                    key_file=key_file,
                    session_secret=SESSION_SECRET,
                )

            users = launch(
                "snappy_user_service",
                wired(
                    PartName.USER_SERVICE,
                    user_port,
                    database_url=_rerouted_database_url(user_database_url, routes.postgres),
                ),
                user_port,
            )
            # photo-service reads the token keys from user-service's JWKS at start-up: started
            # before user-service answers, it would refuse every token until its next refresh.
            wait_until_ready(users.url, users.process, log_path)
            upload_package = "snappy_photo_service"
            upload_environment = wired(
                PartName.PHOTO_SERVICE,
                photo_port,
                peers={PartName.USER_SERVICE: users.url},
                database_url=_rerouted_database_url(photo_database_url, routes.postgres),
                bucket=bucket,
            )
            first = launch(upload_package, upload_environment, photo_port)
            # The edge reads photo-service's address once, at start: the switch is the address
            # it gets, so instances can come and go behind it.
            switch = TcpSwitch(first.address)
            releases.append(switch.close)
            # No web-ui: the load speaks only the public API, which the edge sends to the
            # two services; starting a fourth process would only lengthen the test.
            edge_environment = wired(
                PartName.EDGE,
                edge_port,
                peers={PartName.USER_SERVICE: users.url, PartName.PHOTO_SERVICE: switch.url},
            )
            edge = launch("snappy_edge", {**edge_environment, EDGE_PHASE: "3"}, edge_port)
            # The edge is ready once both services are: its /readyz asks theirs.
            for instance in (first, edge):
                wait_until_ready(instance.url, instance.process, log_path)
            public_url = edge.url

        def verify_writes(result: LoadResult) -> tuple[ReadBack, StoreAudit]:
            read = read_back(public_url, result)
            return read, audit_stores(backing, version, photo_database_url, bucket, result)

        yield StackUnderLoad(
            public_url=public_url,
            switch=switch,
            upload_instance=first,
            spawn_upload_instance=lambda: spawn(upload_package, upload_environment),
            verify_writes=verify_writes,
        )
    finally:
        # All at once: each takes a moment to drain, and they need not wait for one another.
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in reversed(processes):
            stop_process(process, grace_seconds=15)
        for release in reversed(releases):
            release()
