"""The Alembic history builds exactly the schema the models describe, and unwinds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from snappy_devstack.backing import BackingServices, create_database, drop_database
from snappy_monolith.__main__ import alembic_config
from snappy_monolith.config import sqlalchemy_url
from snappy_monolith.models import Base
from tests.support.session import SESSION_TAG


@pytest.fixture
def scratch_database(backing: BackingServices) -> Iterator[str]:
    name = f"snappy_migrations_{SESSION_TAG}"
    url = sqlalchemy_url(create_database(backing.postgres_url, name, drop_existing=True))
    yield url
    drop_database(backing.postgres_url, name)


def test_upgrade_to_head_matches_the_models(scratch_database: str) -> None:
    command.upgrade(alembic_config(scratch_database), "head")

    engine = create_engine(scratch_database)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": "alembic_version_monolith"}
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
    assert tables == {"alembic_version_monolith"}
