"""The deadline budget nests, from the edge down to each store, with every component's defaults.

Each layer must wait for the one below it longer than that one can take, or a request
that is about to succeed is cut off above it (and an upload is stored while the visitor
sees an error). The limits live in five processes' settings and in gunicorn's
configuration; this reads each one's defaults, as a deployment without overrides gets
them, and checks the whole chain (docs/security.md, "Deadlines and idempotency").
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from snappy_edge.app import EdgeSettings
from snappy_monolith.config import Settings as MonolithSettings
from snappy_photo_service.config import Settings as PhotoServiceSettings
from snappy_user_service.config import Settings as UserServiceSettings
from snappy_web_ui.config import Settings as WebUiSettings

DATABASE_URL = "postgresql://snappy@db:5432/snappy"
USER_SERVICE_URL = "http://user-service:8000"
PHOTO_SERVICE_URL = "http://photo-service:8000"
GUNICORN_CONFIGURATIONS = ["snappy_monolith.gunicorn_conf", "snappy_plumbing.gunicorn_conf"]


def edge() -> EdgeSettings:
    return EdgeSettings.from_environ({"SNAPPY_WEB_UI_URL": "http://web-ui:8000"})


def web_ui() -> WebUiSettings:
    return WebUiSettings.from_environ(
        {
            "SNAPPY_USER_SERVICE_URL": USER_SERVICE_URL,
            "SNAPPY_PHOTO_SERVICE_URL": PHOTO_SERVICE_URL,
            "SNAPPY_SECRET_KEY": "secret",
        }
    )


def photo_service() -> PhotoServiceSettings:
    return PhotoServiceSettings.from_environ(
        {
            "SNAPPY_DATABASE_URL": DATABASE_URL,
            "SNAPPY_S3_BUCKET": "photos",
            "SNAPPY_USER_SERVICE_URL": USER_SERVICE_URL,
        }
    )


def user_service() -> UserServiceSettings:
    return UserServiceSettings.from_environ({"SNAPPY_DATABASE_URL": DATABASE_URL})


def monolith() -> MonolithSettings:
    return MonolithSettings.from_environ({"SNAPPY_DATABASE_URL": DATABASE_URL, "SNAPPY_S3_BUCKET": "photos"})


def gunicorn_configuration(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The gunicorn configuration module `name` as a process without overrides reads it."""
    monkeypatch.delenv("SNAPPY_WORKER_TIMEOUT_SECONDS", raising=False)
    return importlib.reload(importlib.import_module(name))


def test_the_edge_waits_longer_than_web_uis_longest_call() -> None:
    peers = web_ui().peers

    assert edge().read_timeout_seconds > peers.longest_call_seconds()
    assert peers.longest_call_seconds() == max(
        peers.calls.read_worst_case_seconds(),
        peers.calls.write_worst_case_seconds(peers.write_timeout_seconds),
    )


def test_web_ui_waits_for_a_write_longer_than_each_services_request_budget() -> None:
    peers = web_ui().peers

    # An upload photo-service stores within its budget is never reported failed by web-ui.
    assert peers.write_timeout_seconds > photo_service().request_budget_seconds
    assert peers.write_timeout_seconds > user_service().request_budget_seconds
    # Reads keep their own shorter wait: a slow page degrades sooner than a write gives up.
    assert peers.calls.read_timeout_seconds < peers.write_timeout_seconds


def test_photo_services_budget_exceeds_each_of_its_store_calls() -> None:
    settings = photo_service()

    assert settings.request_budget_seconds > settings.database.worst_case_seconds()
    assert settings.request_budget_seconds > settings.s3.worst_case_seconds()
    assert settings.request_budget_seconds > settings.user_service.calls.read_worst_case_seconds()
    limits = settings.database
    assert limits.lock_timeout_seconds < limits.statement_timeout_seconds < limits.answer_timeout_seconds


def test_user_service_has_photo_services_database_limits_and_budget() -> None:
    settings = user_service()

    assert settings.database == photo_service().database
    assert settings.request_budget_seconds == photo_service().request_budget_seconds
    assert settings.request_budget_seconds > settings.database.worst_case_seconds()


def test_the_monoliths_budget_exceeds_each_of_its_store_calls_and_fits_under_the_edge() -> None:
    settings = monolith()

    assert settings.request_budget_seconds > settings.database.worst_case_seconds()
    assert settings.request_budget_seconds > settings.s3.worst_case_seconds()
    assert edge().read_timeout_seconds > settings.request_budget_seconds


@pytest.mark.parametrize("name", GUNICORN_CONFIGURATIONS)
def test_gunicorns_worker_timeout_exceeds_every_budget(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    timeout = gunicorn_configuration(name, monkeypatch).timeout

    budgets = {
        "the edge's upstream read": edge().read_timeout_seconds,
        "web-ui's longest call": web_ui().peers.longest_call_seconds(),
        "photo-service's request budget": photo_service().request_budget_seconds,
        "user-service's request budget": user_service().request_budget_seconds,
        "the monolith's request budget": monolith().request_budget_seconds,
    }
    assert {what: timeout > budget for what, budget in budgets.items()} == dict.fromkeys(budgets, True)


@pytest.mark.parametrize("name", GUNICORN_CONFIGURATIONS)
def test_gunicorns_worker_timeout_comes_from_the_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPPY_WORKER_TIMEOUT_SECONDS", "90")
    try:
        assert importlib.reload(importlib.import_module(name)).timeout == 90
    finally:
        gunicorn_configuration(name, monkeypatch)
