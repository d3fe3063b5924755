"""Schemathesis fuzzes the whole public API document against each version under gunicorn.

The CLI runs every phase (examples, coverage, fuzzing, stateful) in both generation modes,
positive and negative (`--mode all`), with its default checks, `not_a_server_error` and
ignored authentication included, as the owner of a few photos that exist before the run, so
that generated requests reach real resources as well as missing ones. The stateful phase
chains operations through the links Schemathesis infers from `Location` headers and from
the document's parameters. Its configuration is schemathesis.toml next to this file;
schemathesis_hooks.py makes uploads real images. Every allowance either of them makes is
named there with its reason.

The test does not take a clean exit alone as proof: from the run's JSON and NDJSON reports
it checks that every phase ran, that every documented operation got negative cases and had
`not_a_server_error` checked, and that the stateful phase followed links.

Log-out revokes the token it is sent with, so it runs in a second invocation with a token
of its own (TOKEN_REVOKING_OPERATION_IDS); in the main run it would blind every later request.

Budget: SNAPPY_SCHEMATHESIS_MAX_EXAMPLES examples per operation and phase (50 by default,
well under a minute and a half per version on two cores) from SNAPPY_SCHEMATHESIS_SEED; see
"Hostile input" in docs/security.md for running it longer or from another seed.
"""

from __future__ import annotations

import json
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
import yaml

from tests.images import image_bytes
from tests.support.live import LiveMicroservices, LiveMonolith
from tests.support.openapi import PUBLIC_CONTRACT_PATH, load_public_contract
from tests.support.session import REPOSITORY_ROOT
from tests.support.stores import execute_sql

HERE = Path(__file__).resolve().parent
CONFIG_FILE = HERE / "schemathesis.toml"
HOOKS_MODULE = "tests.conformance.schemathesis_hooks"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Fixed, so that a failure reproduces; set SNAPPY_SCHEMATHESIS_SEED to explore other inputs.
SEED = int(os.environ.get("SNAPPY_SCHEMATHESIS_SEED", "20240501"))
# Per operation and phase; sized so that each version's run stays within about two minutes.
MAX_EXAMPLES = int(os.environ.get("SNAPPY_SCHEMATHESIS_MAX_EXAMPLES", "50"))
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Logging out revokes the token that authenticates the request. In the main run, where every
# request carries the same token, one such case would turn every later request into a 401
# and the run blind; so these operations run separately, with a token of their own.
TOKEN_REVOKING_OPERATION_IDS = ("revokeCurrentToken",)
SERVER_ERROR_CHECK = "not_a_server_error"
RUN_TIMEOUT_SECONDS = 600
PASSWORD = "correct horse battery"


def documented_operations() -> set[str]:
    """Every operation of the public document, as `METHOD /path`."""
    return {
        f"{operation.method.upper()} {operation.path}" for operation in load_public_contract().operations()
    }


def token_revoking_operation_ids() -> list[str]:
    """The operations of TOKEN_REVOKING_OPERATION_IDS that the document has."""
    document = yaml.safe_load(PUBLIC_CONTRACT_PATH.read_text())
    present = {
        operation.get("operationId")
        for path_item in document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict)
    }
    return [operation_id for operation_id in TOKEN_REVOKING_OPERATION_IDS if operation_id in present]


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


@dataclass(frozen=True)
class ReportPaths:
    """Where the run writes its reports."""

    junit: Path
    json: Path
    ndjson: Path

    @classmethod
    def under(cls, directory: Path) -> ReportPaths:
        """The three reports in `directory`."""
        return cls(
            junit=directory / "schemathesis-junit.xml",
            json=directory / "schemathesis.json",
            ndjson=directory / "schemathesis.ndjson",
        )


def run_schemathesis(
    base_url: str, token: str, reports: ReportPaths, selection: list[str]
) -> subprocess.CompletedProcess[str]:
    """The Schemathesis CLI over the operations `selection` picks: all phases, both modes, default checks."""
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
        # Explicit, although both are the defaults: the test below relies on them.
        "--mode",
        "all",
        "--phases",
        ",".join(PHASES),
        "--report",
        "junit,json,ndjson",
        "--report-junit-path",
        str(reports.junit),
        "--report-json-path",
        str(reports.json),
        "--report-ndjson-path",
        str(reports.ndjson),
        *selection,
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


def links_covered(output: str) -> int:
    """How many API links the stateful phase followed, from the `API Links:` line."""
    match = re.search(r"^\s*API Links:\s*(\d+) covered", output, re.MULTILINE)
    assert match is not None, f"no 'API Links:' line in the output:\n{output}"
    return int(match.group(1))


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


@dataclass(frozen=True)
class CaseCoverage:
    """What the NDJSON report says the run did, per documented operation (`METHOD /path`)."""

    negative_cases: dict[str, int]
    server_error_checked: dict[str, int]
    stateful_cases: int


def read_ndjson(path: Path, operations: set[str]) -> CaseCoverage:
    """Count, per operation, the negative cases and the cases `not_a_server_error` judged."""
    negative: dict[str, int] = dict.fromkeys(operations, 0)
    checked: dict[str, int] = dict.fromkeys(operations, 0)
    stateful = 0
    with path.open(encoding="utf-8") as events:
        for line in events:
            finished = json.loads(line).get("ScenarioFinished")
            if finished is None:
                continue
            recorder = finished["recorder"]
            checks_by_case = recorder.get("checks", {})
            for case_id, node in recorder.get("cases", {}).items():
                case = node["value"]
                meta = case.get("meta") or {}
                if meta.get("phase", {}).get("name") == "stateful":
                    stateful += 1
                # Cases sent with another method than documented (the coverage phase's
                # unexpected methods) count for no operation.
                operation = f"{case['method']} {case['path']}"
                if operation not in operations:
                    continue
                if meta.get("generation", {}).get("mode") == "negative":
                    negative[operation] += 1
                if any(check["name"] == SERVER_ERROR_CHECK for check in checks_by_case.get(case_id, [])):
                    checked[operation] += 1
    return CaseCoverage(negative_cases=negative, server_error_checked=checked, stateful_cases=stateful)


@pytest.fixture(params=["monolith", "microservices"])
def site_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each version under gunicorn: the monolith, then the microservices behind their edge."""
    if request.param == "monolith":
        monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        url, database_url = monolith.base_url, monolith.database_url
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
    operations = documented_operations()
    revoking = token_revoking_operation_ids()
    main_reports = ReportPaths.under(tmp_path / "main")
    revoking_reports = ReportPaths.under(tmp_path / "revoking")
    with httpx.Client(base_url=site_url, timeout=30) as http:
        revoking_token = sign_up_and_log_in(http, known_usernames()[0])

    main = run_schemathesis(
        site_url, token, main_reports, [f"--exclude-operation-id={operation_id}" for operation_id in revoking]
    )
    runs = [(main, main_reports)]
    if revoking:
        selection = [f"--include-operation-id={operation_id}" for operation_id in revoking]
        runs.append(
            (run_schemathesis(site_url, revoking_token, revoking_reports, selection), revoking_reports)
        )

    tested = 0
    for result, reports in runs:
        output = f"{result.stdout}\n{result.stderr}"
        assert result.returncode == 0, f"schemathesis exited with {result.returncode}:\n{output}"
        tested += operations_tested(result.stdout)
        junit = read_junit(reports.junit)
        assert junit.not_passed == {}, output
        coverage = read_ndjson(reports.ndjson, operations)
        # Every operation the run selected got negative cases and had server errors checked.
        selected = operations & junit.operations
        without_negative = sorted(name for name in selected if coverage.negative_cases[name] == 0)
        assert without_negative == [], f"no negative cases for {without_negative}\n{output}"
        unchecked = sorted(name for name in selected if coverage.server_error_checked[name] == 0)
        assert unchecked == [], f"{SERVER_ERROR_CHECK} never judged {unchecked}\n{output}"
    assert tested == len(operations)
    tested_by_junit = read_junit(main_reports.junit).operations | (
        read_junit(revoking_reports.junit).operations if revoking else set()
    )
    assert operations <= tested_by_junit, f"not tested: {sorted(operations - tested_by_junit)}"
    # In the main run, every phase ran to the end rather than being skipped for lack of
    # something to do, and the stateful phase chained operations through links.
    main_output = f"{main.stdout}\n{main.stderr}"
    phases = json.loads(main_reports.json.read_text())["phases"]
    assert {name: phases[name]["status"] for name in PHASES} == dict.fromkeys(PHASES, "success"), phases
    assert read_ndjson(main_reports.ndjson, operations).stateful_cases > 0, main_output
    assert links_covered(main.stdout) > 0, main_output
