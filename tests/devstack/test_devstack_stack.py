"""Preparing stacks: state folder, generated secrets, the processes and their environments."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.local_stack import read_local_stack
from snappy_devstack.stack import (
    STACKS,
    Server,
    StackError,
    StackSecrets,
    default_state_dir,
    ensure_secrets,
    local_stack_description,
    microservices_stack,
    monolith_stack,
    plan_stacks,
    published_local_stack,
    server_environment,
)
from snappy_migration.stores import ObjectStore
from snappy_topology import PartName

SERVICES = BackingServices(
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    s3=S3Endpoint("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
    source="embedded",
)


def test_state_dir_defaults_to_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "monolith" / "src"
    nested.mkdir(parents=True)
    assert default_state_dir(nested) == tmp_path / ".snappy"


def test_state_dir_outside_a_repository_is_in_the_current_folder(tmp_path: Path) -> None:
    assert default_state_dir(tmp_path) == tmp_path / ".snappy"


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path)
    second = ensure_secrets(tmp_path)
    assert first == second
    key = load_pem_private_key(first.jwt_private_key_path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert len(first.session_secret) >= 32
    for path in (first.jwt_private_key_path, tmp_path / "session-secret"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_signing_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwt-signing-key.pem").write_text("not a key\n")
    with pytest.raises(StackError, match="delete it to generate one"):
        ensure_secrets(tmp_path)


def _environment(server: Server, stack_secrets: StackSecrets) -> dict[str, str]:
    base = {
        "PATH": "/usr/bin",
        "SNAPPY_JWT_PRIVATE_KEY": "stale inline key",
        "SNAPPY_MONOLITH_URL": "http://elsewhere:8000",
        "SNAPPY_JWKS_URL": "http://elsewhere:8000/.well-known/jwks.json",
    }
    return server_environment(base, server, services=SERVICES, stack_secrets=stack_secrets)


def test_monolith_environment_carries_every_setting(tmp_path: Path) -> None:
    stack_secrets = ensure_secrets(tmp_path)
    (monolith,) = monolith_stack(8123).servers
    environment = _environment(monolith, stack_secrets)
    assert environment["PATH"] == "/usr/bin"
    assert "SNAPPY_JWT_PRIVATE_KEY" not in environment
    assert environment["SNAPPY_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/snappy_monolith"
    assert environment["SNAPPY_S3_BUCKET"] == "snappy-monolith"
    assert environment["SNAPPY_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert environment["SNAPPY_S3_ACCESS_KEY_ID"] == "key-id"
    assert environment["SNAPPY_S3_SECRET_ACCESS_KEY"] == "secret"
    assert environment["SNAPPY_S3_REGION"] == "us-east-1"
    assert environment["SNAPPY_SECRET_KEY"] == stack_secrets.session_secret
    assert environment["SNAPPY_JWT_PRIVATE_KEY_FILE"] == str(stack_secrets.jwt_private_key_path)
    assert environment["SNAPPY_BIND"] == "127.0.0.1:8123"


def test_microservices_are_wired_to_each_other_behind_a_phase_3_edge(tmp_path: Path) -> None:
    stack_secrets = ensure_secrets(tmp_path)
    stack = microservices_stack(8123, 9001, 9002, 9003)
    assert [server.name for server in stack.servers] == ["user-service", "photo-service", "web-ui", "edge"]
    users, photos, web_ui, edge = (_environment(server, stack_secrets) for server in stack.servers)
    assert stack.entry.port == 8123

    assert users["SNAPPY_BIND"] == "127.0.0.1:9001"
    assert users["SNAPPY_DATABASE_URL"].endswith("/snappy_users")
    assert users["SNAPPY_JWT_PRIVATE_KEY_FILE"] == str(stack_secrets.jwt_private_key_path)
    assert "SNAPPY_JWT_PRIVATE_KEY" not in users
    assert "SNAPPY_SECRET_KEY" not in users

    assert photos["SNAPPY_BIND"] == "127.0.0.1:9002"
    assert photos["SNAPPY_DATABASE_URL"].endswith("/snappy_photos")
    assert photos["SNAPPY_S3_BUCKET"] == "snappy-photos"
    assert photos["SNAPPY_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert photos["SNAPPY_USER_SERVICE_URL"] == "http://127.0.0.1:9001"
    # It verifies tokens with user-service's JWKS, never with the key itself or another signer's.
    assert "SNAPPY_JWT_PRIVATE_KEY_FILE" not in photos
    assert "SNAPPY_JWKS_URL" not in photos
    assert "SNAPPY_SECRET_KEY" not in photos

    assert web_ui["SNAPPY_BIND"] == "127.0.0.1:9003"
    assert web_ui["SNAPPY_USER_SERVICE_URL"] == "http://127.0.0.1:9001"
    assert web_ui["SNAPPY_PHOTO_SERVICE_URL"] == "http://127.0.0.1:9002"
    # The monolith's session secret, so a session cookie is valid on either version.
    assert web_ui["SNAPPY_SECRET_KEY"] == stack_secrets.session_secret
    # It verifies tokens with user-service's JWKS (its default) and owns no data.
    assert "SNAPPY_JWKS_URL" not in web_ui
    assert "SNAPPY_JWT_PRIVATE_KEY_FILE" not in web_ui
    assert "SNAPPY_DATABASE_URL" not in web_ui
    assert "SNAPPY_S3_BUCKET" not in web_ui
    (web_ui_server,) = (server for server in stack.servers if server.name == "web-ui")
    assert (web_ui_server.database, web_ui_server.bucket) == (None, None)  # nothing to migrate

    assert edge["SNAPPY_BIND"] == "127.0.0.1:8123"
    assert edge["SNAPPY_EDGE_PHASE"] == "3"
    assert edge["SNAPPY_USER_SERVICE_URL"] == "http://127.0.0.1:9001"
    assert edge["SNAPPY_PHOTO_SERVICE_URL"] == "http://127.0.0.1:9002"
    assert edge["SNAPPY_WEB_UI_URL"] == "http://127.0.0.1:9003"
    assert "SNAPPY_MONOLITH_URL" not in edge  # phase 3 sends nothing to the monolith
    assert "SNAPPY_DATABASE_URL" not in edge
    assert "SNAPPY_SECRET_KEY" not in edge
    assert f"{stack.entry.url}/ and the API at {stack.entry.url}/api/v1" in stack.note


def test_both_stacks_answer_on_the_port_and_the_next_one() -> None:
    monolith, microservices = plan_stacks("both", 8123)
    assert (monolith.name, monolith.entry.port) == ("monolith", 8123)
    assert (microservices.name, microservices.entry.port) == ("microservices", 8124)
    ports = [server.port for stack in (monolith, microservices) for server in stack.servers]
    assert len(set(ports)) == len(ports) == 5


def test_each_stack_can_run_alone() -> None:
    (monolith,) = plan_stacks("monolith", 8123)
    (microservices,) = plan_stacks("microservices", 8123)
    assert [server.name for server in monolith.servers] == ["monolith"]
    assert [server.name for server in microservices.servers] == [
        "user-service",
        "photo-service",
        "web-ui",
        "edge",
    ]
    assert microservices.entry.port == 8123
    with pytest.raises(StackError, match="unknown stack"):
        plan_stacks("bogus", 8123)


def test_the_monolith_is_the_default_stack() -> None:
    assert STACKS == ("monolith", "microservices", "both", "strangler")


def test_both_stacks_are_described_for_the_data_migration() -> None:
    description = local_stack_description(plan_stacks("both", 8123), SERVICES)
    assert description is not None
    endpoints = description.endpoints()
    assert endpoints.source_database_url == "postgresql://postgres@127.0.0.1:5432/snappy_monolith"
    assert endpoints.target_database_urls == {
        PartName.USER_SERVICE: "postgresql://postgres@127.0.0.1:5432/snappy_users",
        PartName.PHOTO_SERVICE: "postgresql://postgres@127.0.0.1:5432/snappy_photos",
    }
    assert endpoints.object_store == ObjectStore("http://127.0.0.1:9000", "us-east-1", "key-id", "secret")
    assert (endpoints.source_bucket, endpoints.target_bucket) == ("snappy-monolith", "snappy-photos")
    assert (description.monolith_url, description.microservices_url) == (
        "http://127.0.0.1:8123",
        "http://127.0.0.1:8124",
    )


@pytest.mark.parametrize("choice", ["monolith", "microservices"])
def test_a_single_stack_is_not_described(choice: str, tmp_path: Path) -> None:
    stacks = plan_stacks(choice, 8123)
    assert local_stack_description(stacks, SERVICES) is None
    with published_local_stack(tmp_path / "stack.json", stacks, SERVICES) as description:
        assert description is None
        assert not (tmp_path / "stack.json").exists()


def test_the_description_lives_as_long_as_the_stacks_even_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    stacks = plan_stacks("both", 8123)
    with published_local_stack(path, stacks, SERVICES) as description:
        assert read_local_stack(path) == description
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the S3 credentials
    assert not path.exists()

    def interrupted() -> None:
        with published_local_stack(path, stacks, SERVICES):
            assert path.exists()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert not path.exists()
