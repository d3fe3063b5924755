"""Snappy's parts as the tests start them: wired by the topology, on the session's stores.

Every fixture that runs a part under gunicorn (the live stacks, the reliability stacks, the
Pact providers) builds its environment here, from `snappy_topology`, as `snappy up` does;
a test adds only what it is about (a smaller thread pool, a shorter revocation TTL).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from snappy_devstack.backing import BackingServices
from snappy_topology import ObjectStorage, PartName, Wiring, environment, part

__all__ = ["LOOPBACK", "part_environment"]

LOOPBACK = "127.0.0.1"


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
