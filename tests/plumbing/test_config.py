"""The rules every deployable's settings follow: one variable and one default per setting, clear errors.

Each service's tests check its own variables and defaults; what is tested here holds for
all of them, so it is tested once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from snappy_plumbing.access_tokens import TokenCheckSettings
from snappy_plumbing.config import (
    ConfigurationError,
    EnvironmentSettings,
    boolean,
    check_request_budget,
    http_url,
    non_negative_int,
    positive_float,
    positive_int,
    postgresql_url,
    section,
    upper_case,
    variable,
)
from snappy_plumbing.database import DatabaseServiceSettings, DatabaseTimeouts
from snappy_plumbing.peers import PeerPolicy
from tests.support.settings import Reads, Refuses, SettingsCase


@dataclass(frozen=True)
class Calls:
    timeout_seconds: float = field(default=1.0, metadata=variable("TEST_TIMEOUT_SECONDS", positive_float))
    attempts: int = field(default=3, metadata=variable("TEST_ATTEMPTS", positive_int))
    # Not a setting: no variable.
    backoff_seconds: float = 0.1


@dataclass(frozen=True)
class Example(EnvironmentSettings):
    url: str = field(metadata=variable("TEST_URL", http_url))
    name: str = field(default="snappy", metadata=variable("TEST_NAME"))
    secret: str | None = field(default=None, metadata=variable("TEST_SECRET", from_file=True))
    calls: Calls = field(default_factory=Calls, metadata=section())
    # A section whose default holds other defaults than its class's.
    quick_calls: Calls = field(default=Calls(timeout_seconds=0.5, backoff_seconds=0.01), metadata=section())


REQUIRED = {"TEST_URL": "http://peer:8000"}


def test_without_variables_every_setting_has_its_fields_default() -> None:
    assert Example.from_environ(REQUIRED) == Example(url="http://peer:8000")


def test_a_blank_variable_is_unset() -> None:
    assert Example.from_environ({**REQUIRED, "TEST_NAME": "  ", "TEST_ATTEMPTS": ""}) == Example(
        url="http://peer:8000"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("SNAPPY_PEER_READ_ATTEMPTS", "SNAPPY_PEER_ATTEMPTS"),
        ("SNAPPY_USER_SERVICE_ATTEMPTS", "SNAPPY_PEER_ATTEMPTS"),
        ("SNAPPY_USER_SERVICE_READ_TIMEOUT_SECONDS", "SNAPPY_PEER_READ_TIMEOUT_SECONDS"),
    ],
)
def test_a_renamed_variable_stops_the_start_and_names_its_new_name(old: str, new: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{old} is now {new}"):
        Example.from_environ({**REQUIRED, old: "2"})


# Missing or blank alike: each service's table checks its required variables blank.
@pytest.mark.parametrize("environ", [{}, {"TEST_URL": " "}], ids=["missing", "blank"])
def test_a_setting_without_default_is_required(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="TEST_URL is required"):
        Example.from_environ(environ)


def test_variables_are_read_stripped_into_every_section() -> None:
    settings = Example.from_environ(
        {**REQUIRED, "TEST_NAME": " other ", "TEST_TIMEOUT_SECONDS": "2.5", "TEST_ATTEMPTS": "4"}
    )

    assert settings.name == "other"
    # Both sections read the same variables; a section's own default is kept for the rest.
    assert settings.calls == Calls(timeout_seconds=2.5, attempts=4)
    assert settings.quick_calls == Calls(timeout_seconds=2.5, attempts=4, backoff_seconds=0.01)


def test_a_sections_default_holds_the_defaults_of_its_fields() -> None:
    assert Example.from_environ(REQUIRED).quick_calls == Calls(timeout_seconds=0.5, backoff_seconds=0.01)


def test_a_secret_can_come_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from the file\n")
    environ = {**REQUIRED, "TEST_SECRET_FILE": str(secret_file)}

    assert Example.from_environ(environ).secret == "from the file\n"
    assert Example.from_environ({**environ, "TEST_SECRET": "inline"}).secret == "inline"
    with pytest.raises(ConfigurationError, match="TEST_SECRET_FILE: cannot read /no/such/file"):
        Example.from_environ({**REQUIRED, "TEST_SECRET_FILE": "/no/such/file"})


@pytest.mark.parametrize(
    ("parse", "raw", "value"),
    [
        (positive_int, "7", 7),
        (non_negative_int, "0", 0),
        (positive_float, "0.5", 0.5),
        (boolean, "yes", True),
        (boolean, "Off", False),
        (http_url, "https://keys.example/jwks.json", "https://keys.example/jwks.json"),
        (postgresql_url, "postgresql://u@db/photos", "postgresql+psycopg://u@db/photos"),
        (postgresql_url, "postgres://u@db/photos", "postgresql+psycopg://u@db/photos"),
        (upper_case, "debug", "DEBUG"),
    ],
)
def test_values_are_parsed(parse: Callable[[str, str], object], raw: str, value: object) -> None:
    assert parse("SNAPPY_X", raw) == value


@pytest.mark.parametrize(
    ("parse", "raw", "message"),
    [
        (positive_int, "ten", "SNAPPY_X must be a whole number, got 'ten'"),
        (positive_int, "0", "SNAPPY_X must be at least 1, got 0"),
        (non_negative_int, "-1", "SNAPPY_X must be a whole number of at least 0, got '-1'"),
        (positive_float, "soon", "SNAPPY_X must be a number, got 'soon'"),
        (positive_float, "0", "SNAPPY_X must be above 0, got 0.0"),
        (boolean, "maybe", "SNAPPY_X must be true or false, got 'maybe'"),
        (http_url, "peer:8000", "SNAPPY_X must be an http:// or https:// URL, got 'peer:8000'"),
    ],
)
def test_a_value_that_does_not_parse_is_named_in_the_error(
    parse: Callable[[str, str], object], raw: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse("SNAPPY_X", raw)
    assert str(refused.value) == message


def test_the_request_budget_must_exceed_every_call_it_covers() -> None:
    check_request_budget(15.0, {"a PostgreSQL call": 11.0, "an S3 call": 9.0})

    with pytest.raises(ConfigurationError) as refused:
        check_request_budget(9.0, {"a PostgreSQL call": 8.0, "an S3 call": 9.0})
    assert str(refused.value) == (
        "SNAPPY_REQUEST_BUDGET_SECONDS (9.0 s) must exceed the longest an S3 call can take (9.0 s)"
    )


# The sections the services share: their variables are read here once; each service's
# tests check only that it holds them, and its own defaults.


@dataclass(frozen=True)
class ExampleService(DatabaseServiceSettings):
    calls: PeerPolicy = field(default=PeerPolicy(read_timeout_seconds=3.0, attempts=2), metadata=section())
    tokens: TokenCheckSettings = field(default_factory=TokenCheckSettings, metadata=section())

    def other_worst_cases(self) -> dict[str, float]:
        return {"a peer call": self.calls.read_worst_case_seconds()}


DATABASE = {"SNAPPY_DATABASE_URL": "postgresql://u@db/example"}
# Short database limits: 1 + 2 + 2 + 2 = 7 s for one PostgreSQL call at worst.
SHORT_DATABASE = {
    "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": "0.5",
    "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1.5",
    "SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS": "2",
}

SHARED_SECTIONS: list[SettingsCase] = [
    Reads(
        "the shared sections are read from their variables",
        {
            "SNAPPY_LOG_LEVEL": "debug",
            "SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
            "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
            "SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS": "2.5",
            "SNAPPY_REQUEST_BUDGET_SECONDS": "20",
            "SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_PEER_READ_TIMEOUT_SECONDS": "2",
            "SNAPPY_PEER_ATTEMPTS": "4",
            "SNAPPY_JWKS_URL": "https://keys.example/jwks.json",
            "SNAPPY_JWT_ISSUER": "iss",
            "SNAPPY_JWT_AUDIENCE": "aud",
            "SNAPPY_REVOCATION_TTL_SECONDS": "2",
            "SNAPPY_REVOCATION_MAX_STALENESS_SECONDS": "30",
        },
        ExampleService(
            log_level="DEBUG",
            database_url="postgresql+psycopg://u@db/example",
            database=DatabaseTimeouts(
                pool_timeout_seconds=0.5,
                connect_timeout_seconds=3,
                lock_timeout_seconds=0.5,
                statement_timeout_seconds=2.0,
                answer_timeout_seconds=2.5,
            ),
            request_budget_seconds=20.0,
            calls=PeerPolicy(read_timeout_seconds=2.0, attempts=4, connect_timeout_seconds=0.5),
            tokens=TokenCheckSettings(
                issuer="iss",
                audience="aud",
                jwks_url="https://keys.example/jwks.json",
                revocation_ttl_seconds=2.0,
                revocation_max_staleness_seconds=30.0,
            ),
        ),
    ),
    # Limits that do not nest under the budget stop the start:
    # 1 + 4 + 2 + 4 = 11 s for one PostgreSQL call with the default limits, ...
    Refuses({"SNAPPY_REQUEST_BUDGET_SECONDS": "10"}, "longest a PostgreSQL call can take (11.0 s)"),
    # ... 2 x (1 + 3) + 0.1 s for a peer call, the service's other call.
    Refuses({**SHORT_DATABASE, "SNAPPY_REQUEST_BUDGET_SECONDS": "8"}, "longest a peer call can take (8.1 s)"),
    Refuses({"SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS": "3"}, "LOCK_TIMEOUT_SECONDS must be below"),
    Refuses({"SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS": "5"}, "STATEMENT_TIMEOUT_SECONDS must be below"),
    Refuses({"SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS": "1"}, "CONNECT_TIMEOUT_SECONDS must be at least 2"),
]


@pytest.mark.parametrize("case", SHARED_SECTIONS, ids=lambda case: case.summary)
def test_the_shared_sections(case: SettingsCase, tmp_path: Path) -> None:
    case.check(ExampleService.from_environ, DATABASE, ConfigurationError, tmp_path)


def test_the_signers_keys_are_user_services_unless_configured() -> None:
    assert TokenCheckSettings().signer_keys_url("http://user-service:8000/") == (
        "http://user-service:8000/.well-known/jwks.json"
    )
    configured = TokenCheckSettings(jwks_url="https://keys.example/jwks.json")
    assert configured.signer_keys_url("http://user-service:8000") == "https://keys.example/jwks.json"
