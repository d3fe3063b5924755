"""The backing-services provider, with real PostgreSQL and S3 calls."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from snappy_devstack import embedded
from snappy_devstack.backing import (
    BackingServiceError,
    BackingServices,
    create_bucket,
    create_database,
    delete_bucket,
    drop_database,
    provide_backing_services,
)
from snappy_devstack.containers import docker_engine_available
from snappy_devstack.postgres import database_url
from snappy_devstack.s3 import s3_client


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _listening(url_port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", url_port)) == 0


def test_postgres_comes_from_the_environment_and_s3_is_embedded(
    backing_services: BackingServices,
) -> None:
    assert backing_services.source == "environment+embedded"
    assert backing_services.postgres_url.startswith("postgresql://")
    assert backing_services.s3.endpoint_url.startswith("http://127.0.0.1:")


def test_create_and_drop_database(backing_services: BackingServices) -> None:
    name = _unique("snappy_devstack_test_")
    url = create_database(backing_services.postgres_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == (name,)
            connection.execute("CREATE TABLE kept (id integer)")

        assert create_database(backing_services.postgres_url, name) == url
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT to_regclass('kept')").fetchone() == ("kept",)

        # Held open on purpose: dropping must end this session rather than fail.
        held = psycopg.connect(url)
        try:
            create_database(backing_services.postgres_url, name, drop_existing=True)
            with pytest.raises(psycopg.OperationalError):
                held.execute("SELECT 1")
        finally:
            held.close()
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT to_regclass('kept')").fetchone() == (None,)
    finally:
        drop_database(backing_services.postgres_url, name)

    with psycopg.connect(backing_services.postgres_url) as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert row.fetchone() is None
    drop_database(backing_services.postgres_url, name)  # dropping what is gone is fine


def test_invalid_database_name_is_refused(backing_services: BackingServices) -> None:
    with pytest.raises(BackingServiceError, match="invalid database name"):
        create_database(backing_services.postgres_url, 'bad"name')


def test_bucket_lifecycle(backing_services: BackingServices) -> None:
    name = _unique("snappy-test-")
    create_bucket(backing_services.s3, name)
    create_bucket(backing_services.s3, name)  # idempotent
    client = s3_client(backing_services.s3)
    client.put_object(Bucket=name, Key="photos/1/original", Body=b"\x89PNG fake bytes")
    client.put_object(Bucket=name, Key="photos/1/thumbnail", Body=b"thumbnail")
    stored = client.get_object(Bucket=name, Key="photos/1/original")["Body"].read()
    assert stored == b"\x89PNG fake bytes"

    delete_bucket(backing_services.s3, name)
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=name)
    delete_bucket(backing_services.s3, name)  # deleting what is gone is fine


def test_forced_embedded_postgres_answers(no_provider_settings: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_provider_settings.setenv("SNAPPY_DEV_PROVIDER", "embedded")
    no_provider_settings.setenv("SNAPPY_DEV_POSTGRES_URL", "postgresql://ignored@127.0.0.1:1/x")
    started = time.monotonic()
    with provide_backing_services(tmp_path, persistent=False) as services:
        startup_seconds = time.monotonic() - started
        assert services.source == "embedded"
        with psycopg.connect(services.postgres_url, connect_timeout=5) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        postgres_port = psycopg.conninfo.conninfo_to_dict(services.postgres_url)["port"]
        assert startup_seconds < 60
    assert not _listening(int(str(postgres_port)))
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone


def test_persistent_embedded_services_keep_their_data(
    no_provider_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_provider_settings.setenv("SNAPPY_DEV_PROVIDER", "embedded")
    with provide_backing_services(tmp_path, persistent=True) as services:
        url = create_database(services.postgres_url, "kept")
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE TABLE notes (body text)")
            connection.execute("INSERT INTO notes VALUES ('still here')")
        create_bucket(services.s3, "kept-bucket")
        s3_client(services.s3).put_object(Bucket="kept-bucket", Key="note", Body=b"still here")

    with provide_backing_services(tmp_path, persistent=True) as services:
        url = create_database(services.postgres_url, "kept")
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT body FROM notes").fetchone() == ("still here",)
        body = s3_client(services.s3).get_object(Bucket="kept-bucket", Key="note")["Body"]
        assert body.read() == b"still here"
    assert (tmp_path / "logs" / "seaweedfs.log").is_file()


# Settings that cannot give a stack its services, and what the refusal must say.
REFUSED_SETTINGS = {
    "forced environment without URLs": ({"SNAPPY_DEV_PROVIDER": "environment"}, "SNAPPY_DEV_POSTGRES_URL"),
    "forced containers without an engine": (
        {"SNAPPY_DEV_PROVIDER": "containers", "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        "no Docker engine answers",
    ),
    "unknown provider": ({"SNAPPY_DEV_PROVIDER": "cloud"}, "SNAPPY_DEV_PROVIDER='cloud' is not one of"),
    "S3 endpoint without credentials": (
        {"SNAPPY_DEV_S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
        "SNAPPY_DEV_S3_ACCESS_KEY_ID",
    ),
    "unreachable PostgreSQL in the environment": (
        {
            "SNAPPY_DEV_PROVIDER": "environment",
            "SNAPPY_DEV_POSTGRES_URL": "postgresql://u:secret@127.0.0.1:1/db",
            "SNAPPY_DEV_S3_ENDPOINT_URL": "http://127.0.0.1:1",
            "SNAPPY_DEV_S3_ACCESS_KEY_ID": "key",
            "SNAPPY_DEV_S3_SECRET_ACCESS_KEY": "secret",
        },
        r"127\.0\.0\.1:1/db .* does not answer",
    ),
}


@pytest.mark.parametrize("case", REFUSED_SETTINGS)
def test_settings_that_cannot_work_are_refused_quickly_in_one_line(
    no_provider_settings: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    settings, message = REFUSED_SETTINGS[case]
    for name, value in settings.items():
        no_provider_settings.setenv(name, value)
    started = time.monotonic()
    with (
        pytest.raises(BackingServiceError, match=message) as raised,
        provide_backing_services(tmp_path, persistent=False),
    ):
        pytest.fail("must not provide anything")
    assert time.monotonic() - started < 5
    assert "\n" not in str(raised.value)
    assert "secret" not in str(raised.value)


def test_docker_engine_probe_is_false_quickly_without_an_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    started = time.monotonic()
    assert docker_engine_available() is False
    assert time.monotonic() - started < 3


def test_docker_engine_probe_answers_quickly_here() -> None:
    # No engine runs on this machine; elsewhere the answer may be True, but never slow.
    started = time.monotonic()
    assert isinstance(docker_engine_available(), bool)
    assert time.monotonic() - started < 3


def test_weed_that_fails_to_start_is_reported_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failing = tmp_path / "weed"
    failing.write_text("#!/bin/sh\necho 'weed: cannot open volume folder' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setattr(embedded, "_weed_executable", lambda: failing)
    with (
        pytest.raises(BackingServiceError, match="exited with status 3") as raised,
        embedded.embedded_s3(tmp_path / "state", persistent=False),
    ):
        pytest.fail("must not provide anything")
    assert "cannot open volume folder" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_database_url_keeps_the_server_and_its_options() -> None:
    server = "postgresql://u:p%40ss@db.example:6543/postgres?sslmode=require"
    assert database_url(server, "snappy_monolith") == (
        "postgresql://u:p%40ss@db.example:6543/snappy_monolith?sslmode=require"
    )
