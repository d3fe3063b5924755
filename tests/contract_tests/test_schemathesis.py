"""Schemathesis fuzzes the whole public API document against each version under gunicorn.

The CLI runs every phase (examples, coverage, fuzzing, stateful) with its default checks,
negative data and ignored authentication included, as the owner of a few photos that
exist before the run, so that generated requests reach real resources as well as missing
ones. Its configuration is schemathesis.toml next to this file; schemathesis_hooks.py makes
uploads real images. Every allowance either of them makes is named there with its reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.conftest import REPOSITORY_ROOT, LiveMicroservices, LiveMonolith, execute_sql
from tests.contract import PUBLIC_CONTRACT_PATH, load_public_contract
from tests.images import image_bytes

HERE = Path(__file__).resolve().parent
CONFIG_FILE = HERE / "schemathesis.toml"
HOOKS_MODULE = "tests.contract_tests.schemathesis_hooks"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Fixed, so that a failure reproduces; change it deliberately to explore other inputs.
SEED = 20240501
# Per operation and phase; sized so that the whole test stays within about three minutes.
MAX_EXAMPLES = 100
RUN_TIMEOUT_SECONDS = 600
PASSWORD = "correct horse battery"


def documented_operations() -> set[str]:
    """Every operation of the public document, as `METHOD /path`."""
    return {
        f"{operation.method.upper()} {operation.path}" for operation in load_public_contract().operations()
    }


def known_usernames() -> list[str]:
    """The usernames the configuration feeds to generated requests: owner first, then friend."""
    config = tomllib.loads(CONFIG_FILE.read_text())
    usernames: list[str] = config["dictionaries"]["known_usernames"]["values"]
    return usernames


def sign_up_and_log_in(http: httpx.Client, username: str) -> str:
    """Create the user (or reuse it, if an earlier test of the session did) and return a token."""
    created = http.post(
        "/api/v1/users",
        json={"username": username, "password": PASSWORD, "display_name": username.replace("_", " ").title()},
    )
    assert created.status_code in {201, 409}, created.text
    token = http.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
    assert token.status_code == 201, token.text
    value: str = token.json()["access_token"]
    return value


def upload(http: httpx.Client, token: str, fmt: str, visibility: str, caption: str) -> int:
    """Upload a generated image; returns the photo id."""
    response = http.post(
        "/api/v1/photos",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (f"photo.{fmt.lower()}", image_bytes(fmt, size=(96, 64)))},
        data={"visibility": visibility, "caption": caption},
    )
    assert response.status_code == 201, response.text
    photo_id: int = response.json()["id"]
    return photo_id


def share(http: httpx.Client, token: str, photo_id: int, username: str) -> None:
    """Share a photo with a user."""
    response = http.post(
        f"/api/v1/photos/{photo_id}/shares",
        headers={"Authorization": f"Bearer {token}"},
        json={"username": username},
    )
    assert response.status_code == 201, response.text


def create_existing_resources(base_url: str) -> str:
    """Two users, photos and shares in both directions; returns the owner's access token."""
    owner, friend = known_usernames()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        owner_token = sign_up_and_log_in(http, owner)
        friend_token = sign_up_and_log_in(http, friend)
        upload(http, owner_token, "WEBP", "private", "Just mine")
        upload(http, owner_token, "PNG", "public", "For everyone")
        share(http, owner_token, upload(http, owner_token, "JPEG", "private", "For a friend"), friend)
        # The owner's feed is not empty either.
        share(http, friend_token, upload(http, friend_token, "JPEG", "private", "From a friend"), owner)
    return owner_token


def run_schemathesis(base_url: str, token: str, junit_path: Path) -> subprocess.CompletedProcess[str]:
    """The Schemathesis CLI over the whole public document, with default checks."""
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG_FILE),
        "--no-color",
        "run",
        str(PUBLIC_CONTRACT_PATH),
        "--url",
        base_url,
        "-H",
        f"Authorization: Bearer {token}",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit_path),
    ]
    # A fixed hash seed too: set and dict order inside Schemathesis must not vary between runs.
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS_MODULE, "PYTHONHASHSEED": "0"}
    return subprocess.run(
        command,
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def operations_tested(output: str) -> int:
    """`Tested: N` from the run's summary."""
    match = re.search(r"^\s*Tested:\s*(\d+)\s*$", output, re.MULTILINE)
    assert match is not None, f"no 'Tested:' line in the summary:\n{output}"
    return int(match.group(1))


@dataclass(frozen=True)
class JunitOutcome:
    """The operations a JUnit report has a test case for, and those that did not pass."""

    operations: set[str]
    not_passed: dict[str, str]


def read_junit(path: Path) -> JunitOutcome:
    """Parse the Schemathesis JUnit report."""
    operations: set[str] = set()
    not_passed: dict[str, str] = {}
    # Trusted input: the Schemathesis run of this test wrote the file.
    for case in ElementTree.parse(path).getroot().iter("testcase"):  # noqa: S314
        name = case.get("name", "")
        operations.add(name)
        for outcome in ("failure", "error", "skipped"):
            element = case.find(outcome)
            if element is not None:
                not_passed[name] = f"{outcome}: {element.get('message')}"
    return JunitOutcome(operations=operations, not_passed=not_passed)


@pytest.fixture(params=["monolith", "microservices"])
def site_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each version under gunicorn: the monolith, then the microservices behind their edge."""
    if request.param == "monolith":
        monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        url, database_url = monolith.base_url, monolith.resources.database_url
    else:
        microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
        url, database_url = microservices.edge_url, microservices.user_database_url
    yield url
    # Fuzzed log-ins block accounts and this address by design; later tests of the session
    # log in on the same stack.
    execute_sql(database_url, "TRUNCATE login_throttle")


@pytest.mark.live
def test_each_version_conforms_to_the_public_api_under_fuzzing(site_url: str, tmp_path: Path) -> None:
    token = create_existing_resources(site_url)
    junit_path = tmp_path / "schemathesis-junit.xml"
    operations = documented_operations()

    result = run_schemathesis(site_url, token, junit_path)

    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"schemathesis exited with {result.returncode}:\n{output}"
    assert operations_tested(result.stdout) == len(operations), output
    junit = read_junit(junit_path)
    assert operations <= junit.operations, f"not tested: {sorted(operations - junit.operations)}\n{output}"
    assert junit.not_passed == {}, output
