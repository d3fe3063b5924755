"""The password-guessing throttle: failed log-ins counted per account and per client address.

The counts live in PostgreSQL (`login_throttle`), so every replica sees the same ones.
An attempt is counted *before* its password is checked, by one atomic upsert per scope
that refuses to count while the scope is blocked: concurrent guesses, on one replica or
many, cannot get more password checks than the limit, and a blocked attempt costs no
Argon2 work. A success takes its attempt back: the account's count is cleared and the
address's is decremented, so only failures add up.

The rule, per scope: a window opens at the first counted attempt and lasts
`window_seconds`; the attempt that reaches `max_failures` in it blocks the scope for
`block_seconds`, and each further attempt (only possible once that block has passed)
blocks it for twice as long as the one before, up to `max_block_seconds`. When a window
has passed and the scope is not blocked, counting starts again from one.

A username that does not exist is counted exactly like one that does (its own account
scope, the same limits), so the answers, 401 then 429, say nothing about which exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from snappy_plumbing.errors import TooManyAttempts
from snappy_user_service import users
from snappy_user_service.components import components
from snappy_user_service.config import LoginThrottleSettings
from snappy_user_service.models import User

__all__ = ["ACCOUNT", "ADDRESS", "LoginGuard", "ScopeLimits", "throttled_log_in"]

ACCOUNT = "account"
ADDRESS = "address"
# Longer subjects are cut: a username longer than the API allows, or an address that is
# no address, must not grow the table's rows without bound.
MAX_SUBJECT_LENGTH = 256
# 2**30 times the shortest block is far beyond any cap; a bound keeps power() finite.
_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class ScopeLimits:
    """How many failures one scope (an account, or an address) gets, and how long it then waits."""

    max_failures: int
    window_seconds: int
    block_seconds: int
    max_block_seconds: int


def _block_until(failures: str) -> str:
    """SQL for the end of the block that `failures` counted attempts start, or NULL below the limit."""
    doublings = f"least({failures} - :max_failures, {_MAX_DOUBLINGS})"
    seconds = f"least(:max_block_seconds, :block_seconds * power(2, {doublings}))"
    return f"CASE WHEN {failures} >= :max_failures THEN now() + make_interval(secs => {seconds}) END"


_WINDOW_PASSED = "throttle.window_started_at <= now() - make_interval(secs => :window_seconds)"
_FAILURES_AFTER = f"CASE WHEN {_WINDOW_PASSED} THEN 1 ELSE throttle.failures + 1 END"

# Counts one attempt unless the scope is blocked; no row comes back when it is. The row
# lock ON CONFLICT takes makes concurrent attempts on the same scope count one by one,
# each seeing the count (and the block) the one before it left. Only constant SQL is
# formatted in; every value is a bound parameter.
_COUNT_ATTEMPT = text(
    f"""
    INSERT INTO login_throttle AS throttle (scope, subject, failures, window_started_at, blocked_until)
    VALUES (:scope, :subject, 1, now(), {_block_until("1")})
    ON CONFLICT (scope, subject) DO UPDATE SET
        failures = {_FAILURES_AFTER},
        window_started_at = CASE WHEN {_WINDOW_PASSED} THEN now() ELSE throttle.window_started_at END,
        blocked_until = {_block_until(_FAILURES_AFTER)}
    WHERE throttle.blocked_until IS NULL OR throttle.blocked_until <= now()
    RETURNING throttle.failures
    """  # noqa: S608
)

_SECONDS_BLOCKED = text(
    """
    SELECT CAST(ceil(extract(epoch FROM max(blocked_until) - now())) AS integer)
    FROM login_throttle
    WHERE (scope = :address_scope AND subject = :address) OR (scope = :account_scope AND subject = :account)
    """
)

# A success takes back the address's count for its own attempt, and lifts a block that
# attempt alone had started.
_TAKE_BACK_ADDRESS_ATTEMPT = text(
    """
    UPDATE login_throttle
    SET failures = failures - 1,
        blocked_until = CASE WHEN failures - 1 >= :max_failures THEN blocked_until END
    WHERE scope = :scope AND subject = :subject AND failures > 0
    """
)

_CLEAR_ACCOUNT = text("DELETE FROM login_throttle WHERE scope = :scope AND subject = :subject")


@dataclass(frozen=True)
class LoginGuard:
    """Log-ins counted against the shared throttle."""

    engine: Engine
    account: ScopeLimits
    address: ScopeLimits

    @classmethod
    def from_settings(cls, engine: Engine, settings: LoginThrottleSettings) -> LoginGuard:
        """The guard these settings describe, on `engine`."""
        return cls(
            engine=engine,
            account=ScopeLimits(
                settings.account_max_failures,
                settings.account_window_seconds,
                settings.block_seconds,
                settings.max_block_seconds,
            ),
            address=ScopeLimits(
                settings.address_max_failures,
                settings.address_window_seconds,
                settings.block_seconds,
                settings.max_block_seconds,
            ),
        )

    def log_in(self, session: Session, username: str, password: str, address: str) -> User:
        """The user these credentials belong to: 429 while blocked (no password check), 401 when wrong."""
        self.count_attempt(username, address)
        user = users.authenticate(session, username, password)
        self.forgive(username, address)
        return user

    def count_attempt(self, username: str, address: str) -> None:
        """Count an attempt for the address and the account, committed; TooManyAttempts when blocked."""
        account, address = username[:MAX_SUBJECT_LENGTH], address[:MAX_SUBJECT_LENGTH]
        # The address first, here and in `forgive`: one lock order, so no two attempts deadlock.
        with self.engine.begin() as connection:
            scopes = ((ADDRESS, address, self.address), (ACCOUNT, account, self.account))
            for scope, subject, limits in scopes:
                counted = connection.execute(
                    _COUNT_ATTEMPT,
                    {
                        "scope": scope,
                        "subject": subject,
                        "max_failures": limits.max_failures,
                        "window_seconds": limits.window_seconds,
                        "block_seconds": limits.block_seconds,
                        "max_block_seconds": limits.max_block_seconds,
                    },
                ).first()
                if counted is None:
                    # Leaving the block rolls back what this attempt counted so far.
                    raise TooManyAttempts(_seconds_blocked(connection, account, address))

    def forgive(self, username: str, address: str) -> None:
        """After a success: clear the account's count and take the attempt back from the address."""
        account, address = username[:MAX_SUBJECT_LENGTH], address[:MAX_SUBJECT_LENGTH]
        with self.engine.begin() as connection:
            connection.execute(
                _TAKE_BACK_ADDRESS_ATTEMPT,
                {"scope": ADDRESS, "subject": address, "max_failures": self.address.max_failures},
            )
            connection.execute(_CLEAR_ACCOUNT, {"scope": ACCOUNT, "subject": account})


def _seconds_blocked(connection: Connection, account: str, address: str) -> int:
    seconds = connection.execute(
        _SECONDS_BLOCKED,
        {"address_scope": ADDRESS, "address": address, "account_scope": ACCOUNT, "account": account},
    ).scalar()
    # A block that ended a moment ago still says "wait": Retry-After is at least one second.
    return max(1, int(seconds or 0))


def throttled_log_in(session: Session, username: str, password: str) -> User:
    """`LoginGuard.log_in` for the current request: this app's limits, the request's client address."""
    found = components()
    guard = LoginGuard.from_settings(found.database.engine, found.settings.login_throttle)
    # With SNAPPY_TRUSTED_PROXY_HOPS set, ProxyFix has already put the client's address here.
    return guard.log_in(session, username, password, request.remote_addr or "unknown")
