"""Alembic environment of user-service's database (its own version table)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from snappy_plumbing.config import sqlalchemy_url
from snappy_user_service.models import Base

# Its own name, so the history cannot collide with another one in a shared database
# (the monolith's, while the data moves).
VERSION_TABLE = "alembic_version_user_service"


def run_migrations_online() -> None:
    """Apply migrations over one connection, in one transaction per migration."""
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("SNAPPY_DATABASE_URL")
    if not url:
        raise SystemExit("set SNAPPY_DATABASE_URL to the database to migrate")
    url = sqlalchemy_url(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            transaction_per_migration=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run against a database")
run_migrations_online()
