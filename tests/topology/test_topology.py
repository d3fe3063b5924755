"""The topology is the one description of Snappy's parts, and every launcher reads it."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.stack import StackSecrets, plan_stacks, server_environment
from snappy_edge.routing import PHASES
from snappy_topology import (
    JOBS,
    PARTS,
    JobName,
    ObjectStorage,
    PartName,
    RouteGroupName,
    TopologyError,
    Wiring,
    environment,
    part,
    parts_serving,
)
from tests.support.parts import part_environment

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SERVICES = BackingServices(
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    s3=S3Endpoint("http://127.0.0.1:8333", "us-east-1", "key", "secret"),
    source="test",
)
STORAGE = ObjectStorage("http://127.0.0.1:8333", "us-east-1", "key", "secret")
NEW_SETTING = "SNAPPY_A_SETTING_ADDED_ONCE"


@pytest.fixture
def photo_service_with_a_new_setting(monkeypatch: pytest.MonkeyPatch) -> str:
    """photo-service with one more setting, added in the one place a developer would add it."""
    described = PARTS[PartName.PHOTO_SERVICE]
    changed = dataclasses.replace(described, settings={**described.settings, NEW_SETTING: "on"})
    monkeypatch.setitem(PARTS, PartName.PHOTO_SERVICE, changed)
    return NEW_SETTING


def test_a_setting_added_to_a_part_reaches_snappy_up(
    photo_service_with_a_new_setting: str, tmp_path: Path
) -> None:
    (microservices,) = plan_stacks("microservices", 18000)
    photo_service = next(server for server in microservices.servers if server.name == PartName.PHOTO_SERVICE)
    secrets = StackSecrets(jwt_private_key_path=tmp_path / "key.pem", session_secret="s")

    launched = server_environment({}, photo_service, services=SERVICES, stack_secrets=secrets)

    assert launched[photo_service_with_a_new_setting] == "on"


def test_a_setting_added_to_a_part_reaches_the_test_fixtures_and_pact_providers(
    photo_service_with_a_new_setting: str,
) -> None:
    # The live stacks, the reliability stacks and the Pact providers all start parts through this.
    launched = part_environment(
        PartName.PHOTO_SERVICE,
        SERVICES,
        port=18001,
        base={},
        peers={PartName.USER_SERVICE: "http://127.0.0.1:18002"},
        database_url="postgresql://postgres@127.0.0.1:5432/photos",
        bucket="photos",
    )

    assert launched[photo_service_with_a_new_setting] == "on"


def test_every_part_is_installed_with_its_server_entry_points() -> None:
    for described in PARTS.values():
        assert (REPOSITORY_ROOT / described.project / "pyproject.toml").is_file(), described.name
        for module in ("wsgi", "gunicorn_conf"):
            assert importlib.util.find_spec(f"{described.package}.{module}") is not None, (
                described.name,
                module,
            )
        if described.command is None:
            assert described.start.arguments[-1] == f"{described.package}.wsgi:app"
        else:
            # A part with its own command runs its package as a program (the edge: front and lane).
            assert described.start == described.command
            assert described.command.arguments == ("-m", described.package)
            assert importlib.util.find_spec(f"{described.package}.__main__") is not None, described.name


def test_exactly_the_parts_that_own_a_database_have_a_schema_migration() -> None:
    for described in PARTS.values():
        migration = described.schema_migration
        assert (migration is not None) == (described.database is not None), described.name
        if migration is not None:
            assert importlib.util.find_spec(f"{described.package}.__main__") is not None
    assert set(JOBS[JobName.SCHEMA_MIGRATION].writes) == {
        PartName.MONOLITH,
        PartName.USER_SERVICE,
        PartName.PHOTO_SERVICE,
    }


def test_the_data_migration_writes_only_into_stores_the_services_own() -> None:
    job = JOBS[JobName.DATA_MIGRATION]
    assert job.reads == (PartName.MONOLITH,)
    for name in job.writes:
        assert part(name).database is not None
    assert job.project is not None
    assert (REPOSITORY_ROOT / job.project / "pyproject.toml").is_file()


def test_each_store_has_one_owner() -> None:
    databases = [described.database for described in PARTS.values() if described.database is not None]
    buckets = [described.bucket for described in PARTS.values() if described.bucket is not None]
    assert len(databases) == len(set(databases))
    assert len(buckets) == len(set(buckets))


def test_every_route_group_has_a_part_to_serve_it_in_every_phase() -> None:
    for group in RouteGroupName:
        assert parts_serving(group)
    for phase, cells in PHASES.items():
        assert set(cells) == set(RouteGroupName), phase


def test_a_part_without_a_required_store_or_peer_is_refused_with_what_it_needs() -> None:
    with pytest.raises(TopologyError, match=r"photo-service needs a database URL, .*the URL of user-service"):
        environment(part(PartName.PHOTO_SERVICE), Wiring(bind="127.0.0.1:1", object_storage=STORAGE))


def test_a_peer_the_part_does_not_call_is_refused() -> None:
    wiring = Wiring(
        bind="127.0.0.1:1",
        peers={PartName.PHOTO_SERVICE: "http://127.0.0.1:2"},
        database_url="postgresql://db",
        jwt_private_key_file="/key.pem",
    )

    with pytest.raises(TopologyError, match="user-service does not call photo-service"):
        environment(part(PartName.USER_SERVICE), wiring)


def test_stores_and_secrets_go_only_to_the_parts_that_own_them() -> None:
    wiring = Wiring(
        bind="127.0.0.1:1",
        peers={PartName.USER_SERVICE: "http://127.0.0.1:2", PartName.PHOTO_SERVICE: "http://127.0.0.1:3"},
        database_url="postgresql://db",
        bucket="photos",
        object_storage=STORAGE,
        jwt_private_key_file="/key.pem",
        session_secret="secret",
    )

    web_ui = environment(part(PartName.WEB_UI), wiring)

    assert web_ui["SNAPPY_SECRET_KEY"] == "secret"
    assert web_ui["SNAPPY_PHOTO_SERVICE_URL"] == "http://127.0.0.1:3"
    for owned_elsewhere in ("SNAPPY_DATABASE_URL", "SNAPPY_S3_BUCKET", "SNAPPY_JWT_PRIVATE_KEY_FILE"):
        assert owned_elsewhere not in web_ui
