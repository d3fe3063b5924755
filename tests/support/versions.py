"""The two versions of Snappy as the tests that run over both see them: a client, and the data behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from snappy_devstack.backing import BackingServices
from tests.http_client import HttpTestClient
from tests.support.live import LiveMicroservices
from tests.support.provisioning import MonolithResources
from tests.support.stores import empty_bucket, execute_sql, list_objects

__all__ = ["VERSIONS", "StackUnderTest", "in_process_monolith", "microservices_over_http"]

# The versions, in the order every parametrized test runs them.
VERSIONS = ["monolith", "microservices"]


@dataclass(frozen=True)
class StackUnderTest:
    """One version of Snappy, as the API tests see it: a client, and its data to inspect."""

    name: str
    backing: BackingServices
    make_client: Callable[[], FlaskClient | HttpTestClient]
    # database URL -> the statement that empties it
    emptying_statements: dict[str, str]
    photo_database_url: str
    bucket: str

    def reset(self) -> None:
        """Delete every row and object, so a test starts from an empty Snappy."""
        for database_url, statement in self.emptying_statements.items():
            execute_sql(database_url, statement)
        empty_bucket(self.backing, self.bucket)

    def object_keys(self) -> list[str]:
        """Every key in the stack's bucket."""
        return list_objects(self.backing, self.bucket)

    def photo_count(self) -> int:
        """How many photo rows the stack holds."""
        count: int = execute_sql(self.photo_database_url, "SELECT count(*) FROM photos")
        return count


def in_process_monolith(app: Flask, backing: BackingServices, resources: MonolithResources) -> StackUnderTest:
    """The monolith `app`, driven in process through Flask's test client."""
    return StackUnderTest(
        name="monolith",
        backing=backing,
        make_client=app.test_client,
        emptying_statements={
            resources.database_url: (
                "TRUNCATE shares, photos, users, login_throttle, revoked_tokens, upload_requests"
                " RESTART IDENTITY CASCADE"
            )
        },
        photo_database_url=resources.database_url,
        bucket=resources.bucket,
    )


def microservices_over_http(backing: BackingServices, live: LiveMicroservices) -> StackUnderTest:
    """The live microservices, driven over HTTP through their edge."""
    return StackUnderTest(
        name="microservices",
        backing=backing,
        make_client=lambda: HttpTestClient(live.edge_url),
        # Ids are not restarted: photo-service caches id -> username, and ids are never reused.
        emptying_statements={
            live.user_database_url: "TRUNCATE users, login_throttle, revoked_tokens",
            live.photo_database_url: "TRUNCATE shares, photos, upload_requests",
        },
        photo_database_url=live.photo_database_url,
        bucket=live.bucket,
    )
