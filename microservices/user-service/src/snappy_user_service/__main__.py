"""`python -m snappy_user_service migrate`: apply the database migrations."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from snappy_plumbing.config import sqlalchemy_url

__all__ = ["alembic_config", "main"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for the packaged migrations and this database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def main(argv: list[str] | None = None) -> int:
    """Run one management command."""
    parser = argparse.ArgumentParser(prog="snappy-user-service", description="Manage Snappy's user-service.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every pending database migration")
    revision = commands.add_parser("revision", help="create a new migration from model changes")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    database_url = os.environ.get("SNAPPY_DATABASE_URL", "").strip()
    if not database_url:
        print("snappy-user-service: SNAPPY_DATABASE_URL is required", file=sys.stderr)
        return 2
    config = alembic_config(sqlalchemy_url(database_url))
    if args.command == "migrate":
        command.upgrade(config, "head")
    else:
        command.revision(config, message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
