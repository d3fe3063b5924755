"""The Alembic history builds exactly the schema the models describe, the monolith's users table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from snappy_devstack.backing import BackingServices, create_database, drop_database
from snappy_monolith.__main__ import alembic_config as monolith_alembic_config
from snappy_plumbing.config import sqlalchemy_url
from snappy_user_service.__main__ import alembic_config
from snappy_user_service.models import Base
from tests.support.session import SESSION_TAG

VERSION_TABLE = "alembic_version_user_service"


@pytest.fixture
def scratch_database(backing: BackingServices) -> Iterator[str]:
    name = f"snappy_user_service_migrations_{SESSION_TAG}"
    url = sqlalchemy_url(create_database(backing.postgres_url, name, drop_existing=True))
    yield url
    drop_database(backing.postgres_url, name)


@pytest.fixture
def monolith_database(backing: BackingServices) -> Iterator[str]:
    name = f"snappy_user_service_vs_monolith_{SESSION_TAG}"
    url = sqlalchemy_url(create_database(backing.postgres_url, name, drop_existing=True))
    yield url
    drop_database(backing.postgres_url, name)


def test_upgrade_to_head_matches_the_models(scratch_database: str) -> None:
    command.upgrade(alembic_config(scratch_database), "head")

    engine = create_engine(scratch_database)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_to_base_removes_every_table(scratch_database: str) -> None:
    config = alembic_config(scratch_database)
    command.upgrade(config, "head")

    command.downgrade(config, "base")

    engine = create_engine(scratch_database)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert tables == {VERSION_TABLE}


def _users_table(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    inspector = inspect(engine)
    described = {
        "columns": [
            (column["name"], str(column["type"]), column["nullable"], column.get("default"))
            for column in inspector.get_columns("users")
        ],
        "primary_key": inspector.get_pk_constraint("users"),
        "unique": inspector.get_unique_constraints("users"),
        "indexes": inspector.get_indexes("users"),
    }
    engine.dispose()
    return described


def test_the_users_table_is_the_monoliths(scratch_database: str, monolith_database: str) -> None:
    command.upgrade(alembic_config(scratch_database), "head")
    command.upgrade(monolith_alembic_config(monolith_database), "head")

    assert _users_table(scratch_database) == _users_table(monolith_database)
