"""user-service as deployed: migrated by `python -m snappy_user_service migrate`, under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snappy_devstack.backing import BackingServices, create_database, drop_database
from snappy_devstack.processes import stop_process
from snappy_plumbing.tokens import generate_private_key_pem
from tests.support.gunicorn import spawn_gunicorn
from tests.support.openapi import assert_httpx_conforms
from tests.support.session import SESSION_TAG


@pytest.fixture
def empty_database(backing: BackingServices) -> Iterator[str]:
    name = f"snappy_user_service_live_{SESSION_TAG}"
    yield create_database(backing.postgres_url, name, drop_existing=True)
    drop_database(backing.postgres_url, name)


@pytest.mark.live
def test_the_deployed_service_migrates_serves_and_stops_cleanly(empty_database: str, tmp_path: Path) -> None:
    environment = {**os.environ, "SNAPPY_DATABASE_URL": empty_database}
    migrated = subprocess.run(
        [sys.executable, "-m", "snappy_user_service", "migrate"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    key_file = tmp_path / "jwt-signing-key.pem"
    key_file.write_text(generate_private_key_pem())
    log_path = tmp_path / "gunicorn.log"
    process, base_url = spawn_gunicorn(
        "snappy_user_service",
        {**environment, "SNAPPY_JWT_PRIVATE_KEY_FILE": str(key_file), "SNAPPY_THREADS": "2"},
        log_path,
    )
    try:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            body = {"username": "live_user", "password": "correct-horse", "display_name": "Live"}
            created = http.post("/api/v1/users", json=body)
            token = http.post("/api/v1/tokens", json={"username": "live_user", "password": "correct-horse"})
            me = http.get(
                "/api/v1/users/me",
                headers={
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "X-Request-ID": "user-service-live",
                },
            )
            lookup = http.post("/internal/v1/users/lookup", json={"usernames": ["live_user"]})
            ready = http.get("/readyz")
    finally:
        stop_process(process, grace_seconds=30)

    for response in (created, token, me, ready):
        assert_httpx_conforms(response)
    assert me.json() == created.json()
    assert lookup.json() == {"users": [created.json()]}
    assert process.returncode == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "user-service-live" and line.get("status") == 200 for line in lines)
