"""Password guessing: failed log-ins are throttled per account and per client address.

Both versions in turn (the `api` fixture): the monolith in process, the microservices
behind their edge over HTTP, where user-service and web-ui believe one X-Forwarded-For
hop. Argon2 work is counted with the `snappy_password_checks_total` metric of the
process that checks passwords (the monolith, or user-service), not timed. Waiting out a
block is done by moving `blocked_until` into the past in the database.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import pytest

from tests.support.api_client import ApiClient
from tests.support.live import LiveMicroservices
from tests.support.stores import execute_sql
from tests.support.versions import StackUnderTest

PASSWORD = "correct-horse"
WRONG_PASSWORD = "not-the-password"
TOO_MANY_ATTEMPTS = "https://snappy.example/problems/too-many-attempts"
INVALID_CREDENTIALS = "https://snappy.example/problems/invalid-credentials"
# The documented defaults (docs/security.md, Password guessing).
ACCOUNT_MAX_FAILURES = 5
ADDRESS_MAX_FAILURES = 100
FIRST_BLOCK_SECONDS = 30
# Where the tests connect from, as both versions see it.
TEST_CLIENT_ADDRESS = "127.0.0.1"
BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
_CHECKS_METRIC = re.compile(r"^snappy_password_checks_total (\S+)$", re.MULTILINE)
_RETRY_MESSAGE = re.compile(r"Too many attempts\. Try again in (\d+) seconds?\.")


class Guessing:
    """One version of Snappy as a guesser sees it, with the test's view of its throttle."""

    def __init__(self, api: ApiClient, stack: StackUnderTest, request: pytest.FixtureRequest) -> None:
        self.api = api
        self.stack = stack
        self.request = request
        self.database_url = next(
            url for url, statement in stack.emptying_statements.items() if "login_throttle" in statement
        )

    def log_in(self, username: str, password: str, headers: dict[str, str] | None = None) -> Any:
        """POST /api/v1/tokens (checked against the contract)."""
        return self.api.post(
            "/api/v1/tokens", json={"username": username, "password": password}, headers=headers or {}
        )

    def password_checks(self) -> float:
        """How many passwords the checking process has verified with Argon2 so far."""
        if self.stack.name == "microservices":
            live: LiveMicroservices = self.request.getfixturevalue("live_microservices")
            text = httpx.get(f"{live.user_service_url}/metrics", timeout=10).text
        else:
            text = self.stack.make_client().get("/metrics").get_data(as_text=True)
        match = _CHECKS_METRIC.search(text)
        assert match is not None, "no snappy_password_checks_total in /metrics"
        return float(match.group(1))

    def wait_out_the_block(self, username: str) -> None:
        """Let the account's block end now, as if its wait had passed."""
        execute_sql(
            self.database_url,
            "UPDATE login_throttle SET blocked_until = now() - interval '1 second'"
            " WHERE scope = 'account' AND subject = :username",
            {"username": username},
        )

    def rows(self, scope: str) -> dict[str, int]:
        """The throttle's counts for one scope, by subject."""
        found = execute_sql(
            self.database_url,
            "SELECT coalesce(json_object_agg(subject, failures), '{}')::text"
            " FROM login_throttle WHERE scope = :scope",
            {"scope": scope},
        )
        counts: dict[str, int] = json.loads(found)
        return counts


@pytest.fixture
def guessing(api: ApiClient, stack: StackUnderTest, request: pytest.FixtureRequest) -> Guessing:
    """Each emptied version, for guessing at."""
    return Guessing(api, stack, request)


def assert_blocked(response: Any, longest_wait: int) -> int:
    """A 429 too-many-attempts with a Retry-After of 1..`longest_wait` seconds; returns the wait."""
    assert response.status_code == 429, response.get_data(as_text=True)
    problem = response.get_json()
    assert problem["type"] == TOO_MANY_ATTEMPTS
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= longest_wait
    assert problem["detail"] == f"Too many attempts. Try again in {wait} second{'s' if wait != 1 else ''}."
    return wait


def test_wrong_passwords_are_blocked_after_the_limit_without_checking_the_password(
    guessing: Guessing,
) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    checks_before = guessing.password_checks()

    statuses = [guessing.log_in("alice", WRONG_PASSWORD).status_code for _ in range(ACCOUNT_MAX_FAILURES)]
    blocked_guess = guessing.log_in("alice", WRONG_PASSWORD)
    right_password_while_blocked = guessing.log_in("alice", PASSWORD)

    assert statuses == [401] * ACCOUNT_MAX_FAILURES
    assert_blocked(blocked_guess, FIRST_BLOCK_SECONDS)
    assert_blocked(right_password_while_blocked, FIRST_BLOCK_SECONDS)
    # One Argon2 verification per counted failure, none while blocked.
    assert guessing.password_checks() - checks_before == ACCOUNT_MAX_FAILURES


def test_after_the_wait_the_right_password_gets_in_and_clears_the_count(guessing: Guessing) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    for _ in range(ACCOUNT_MAX_FAILURES):
        guessing.log_in("alice", WRONG_PASSWORD)
    assert_blocked(guessing.log_in("alice", PASSWORD), FIRST_BLOCK_SECONDS)

    guessing.wait_out_the_block("alice")
    response = guessing.log_in("alice", PASSWORD)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert guessing.rows("account") == {}
    # A fresh count: the whole allowance again, then the first block again.
    statuses = [guessing.log_in("alice", WRONG_PASSWORD).status_code for _ in range(ACCOUNT_MAX_FAILURES)]
    assert statuses == [401] * ACCOUNT_MAX_FAILURES
    assert_blocked(guessing.log_in("alice", WRONG_PASSWORD), FIRST_BLOCK_SECONDS)


def test_each_failure_past_the_limit_doubles_the_block(guessing: Guessing) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    for _ in range(ACCOUNT_MAX_FAILURES):
        guessing.log_in("alice", WRONG_PASSWORD)
    waits = [assert_blocked(guessing.log_in("alice", WRONG_PASSWORD), FIRST_BLOCK_SECONDS)]

    for _ in range(2):
        guessing.wait_out_the_block("alice")
        assert guessing.log_in("alice", WRONG_PASSWORD).status_code == 401
        waits.append(assert_blocked(guessing.log_in("alice", WRONG_PASSWORD), 4 * FIRST_BLOCK_SECONDS))

    assert FIRST_BLOCK_SECONDS - 2 <= waits[0] <= FIRST_BLOCK_SECONDS
    assert 2 * FIRST_BLOCK_SECONDS - 2 <= waits[1] <= 2 * FIRST_BLOCK_SECONDS
    assert 4 * FIRST_BLOCK_SECONDS - 2 <= waits[2] <= 4 * FIRST_BLOCK_SECONDS


def test_a_username_that_does_not_exist_is_throttled_the_same_way(guessing: Guessing) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    answers: dict[str, list[tuple[int, str]]] = {}
    checks: dict[str, float] = {}

    for username in ("alice", "nobody_here"):
        checks_before = guessing.password_checks()
        responses = [guessing.log_in(username, WRONG_PASSWORD) for _ in range(ACCOUNT_MAX_FAILURES + 1)]
        checks[username] = guessing.password_checks() - checks_before
        answers[username] = [(r.status_code, r.get_json()["type"]) for r in responses]

    expected = [(401, INVALID_CREDENTIALS)] * ACCOUNT_MAX_FAILURES + [(429, TOO_MANY_ATTEMPTS)]
    assert answers["alice"] == answers["nobody_here"] == expected
    # The same work, hence the same timing class: one Argon2 verification per counted failure.
    assert checks["alice"] == checks["nobody_here"] == ACCOUNT_MAX_FAILURES


def test_the_address_limit_holds_across_usernames_and_forged_forwarding_headers(guessing: Guessing) -> None:
    # This address has already failed all but three of its log-ins in the current window.
    execute_sql(
        guessing.database_url,
        "INSERT INTO login_throttle (scope, subject, failures, window_started_at)"
        " VALUES ('address', :address, :failures, now())",
        {"address": TEST_CLIENT_ADDRESS, "failures": ADDRESS_MAX_FAILURES - 3},
    )
    guessing.api.sign_up("zoe", PASSWORD)

    # Each guess names another user and claims another client address.
    statuses = [
        guessing.log_in(
            f"user_{number}", WRONG_PASSWORD, {"X-Forwarded-For": f"203.0.113.{number}"}
        ).status_code
        for number in range(3)
    ]
    blocked = guessing.log_in("zoe", PASSWORD, {"X-Forwarded-For": "198.51.100.7"})

    assert statuses == [401, 401, 401]
    assert_blocked(blocked, FIRST_BLOCK_SECONDS)
    assert guessing.rows("address") == {TEST_CLIENT_ADDRESS: ADDRESS_MAX_FAILURES}
    # zoe's own count is untouched: the address, not the account, refused her.
    assert "zoe" not in guessing.rows("account")


def test_a_success_does_not_use_up_the_address_budget(guessing: Guessing) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    guessing.log_in("alice", WRONG_PASSWORD)

    for _ in range(3):
        assert guessing.log_in("alice", PASSWORD).status_code == 201

    assert guessing.rows("address") == {TEST_CLIENT_ADDRESS: 1}


def test_concurrent_guessers_get_no_more_than_the_limit(guessing: Guessing) -> None:
    guessing.api.sign_up("alice", PASSWORD)
    guessers = ACCOUNT_MAX_FAILURES + 3
    start = threading.Barrier(guessers)
    statuses: list[int] = []
    lock = threading.Lock()
    checks_before = guessing.password_checks()

    def guess() -> None:
        client = ApiClient(guessing.stack.make_client())
        start.wait()
        response = client.post("/api/v1/tokens", json={"username": "alice", "password": WRONG_PASSWORD})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess) for _ in range(guessers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [401] * ACCOUNT_MAX_FAILURES + [429] * (guessers - ACCOUNT_MAX_FAILURES)
    assert guessing.password_checks() - checks_before == ACCOUNT_MAX_FAILURES
    assert guessing.rows("account") == {"alice": ACCOUNT_MAX_FAILURES}


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def test_the_login_page_says_how_long_to_wait(stack: StackUnderTest) -> None:
    site = stack.make_client()
    ApiClient(site).sign_up("alice", PASSWORD)

    def submit(password: str) -> Any:
        token = csrf_token(site.get("/login", headers=BROWSER_ACCEPT).get_data(as_text=True))
        form = {"username": "alice", "password": password, "csrf_token": token}
        return site.post("/login", data=form, headers=BROWSER_ACCEPT)

    failures = [submit(WRONG_PASSWORD) for _ in range(ACCOUNT_MAX_FAILURES)]
    blocked = submit(PASSWORD)

    assert [page.status_code for page in failures] == [401] * ACCOUNT_MAX_FAILURES
    assert "The username or password is wrong" in failures[-1].get_data(as_text=True)
    assert blocked.status_code == 429
    assert blocked.mimetype == "text/html"
    message = _RETRY_MESSAGE.search(blocked.get_data(as_text=True))
    assert message is not None, blocked.get_data(as_text=True)
    assert 1 <= int(message.group(1)) <= FIRST_BLOCK_SECONDS
    assert blocked.headers["Retry-After"] == message.group(1)
    # Not signed in: the feed is still the landing page.
    assert 'data-testid="nav-login"' in site.get("/", headers=BROWSER_ACCEPT).get_data(as_text=True)
