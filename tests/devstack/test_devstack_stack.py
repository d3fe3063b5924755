"""Preparing a stack: state folder, generated secrets and the monolith's environment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.stack import (
    STACKS,
    StackError,
    default_state_dir,
    ensure_secrets,
    monolith_environment,
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


def test_monolith_environment_carries_every_setting(tmp_path: Path) -> None:
    services = BackingServices(
        postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
        s3=S3Endpoint("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
        source="embedded",
    )
    stack_secrets = ensure_secrets(tmp_path)
    environment = monolith_environment(
        {"PATH": "/usr/bin", "SNAPPY_JWT_PRIVATE_KEY": "stale inline key"},
        services=services,
        database_url="postgresql://postgres@127.0.0.1:5432/snappy_monolith",
        stack_secrets=stack_secrets,
        port=8123,
    )
    assert environment["PATH"] == "/usr/bin"
    assert "SNAPPY_JWT_PRIVATE_KEY" not in environment
    assert environment["SNAPPY_DATABASE_URL"].endswith("/snappy_monolith")
    assert environment["SNAPPY_S3_BUCKET"] == "snappy-monolith"
    assert environment["SNAPPY_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert environment["SNAPPY_S3_ACCESS_KEY_ID"] == "key-id"
    assert environment["SNAPPY_S3_SECRET_ACCESS_KEY"] == "secret"
    assert environment["SNAPPY_S3_REGION"] == "us-east-1"
    assert environment["SNAPPY_SECRET_KEY"] == stack_secrets.session_secret
    assert environment["SNAPPY_JWT_PRIVATE_KEY_FILE"] == str(stack_secrets.jwt_private_key_path)
    assert environment["SNAPPY_BIND"] == "127.0.0.1:8123"


def test_the_monolith_is_the_first_stack() -> None:
    assert STACKS[0] == "monolith"
