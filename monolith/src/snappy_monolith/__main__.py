"""`python -m snappy_monolith migrate`: apply the database migrations; `sweep-objects`: see sweep.py.

`ownership show` prints the ownership phase the database records, `ownership set N`
records phase N (snappy_monolith.ownership): who writes users and photos from now on.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from snappy_monolith.config import sqlalchemy_url
from snappy_monolith.ownership import PHASES, read_ownership_phase, set_ownership_phase
from snappy_monolith.sweep import add_sweep_arguments, sweep_objects

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
    parser = argparse.ArgumentParser(prog="snappy-monolith", description="Manage the Snappy monolith.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every pending database migration")
    revision = commands.add_parser("revision", help="create a new migration from model changes")
    revision.add_argument("-m", "--message", required=True)
    sweep = commands.add_parser(
        "sweep-objects", help="delete objects no photo references that are older than a grace period"
    )
    add_sweep_arguments(sweep)
    ownership_command = commands.add_parser(
        "ownership", help="show or record which part writes users and photos (the migration's phase)"
    )
    ownership_actions = ownership_command.add_subparsers(dest="action", required=True)
    ownership_actions.add_parser("show", help="print the phase the database records")
    set_phase = ownership_actions.add_parser("set", help="record a phase (0-4); every replica follows")
    set_phase.add_argument("phase", type=int, choices=list(PHASES))
    args = parser.parse_args(argv)
    if args.command == "sweep-objects":
        return sweep_objects(args.grace_seconds, dry_run=args.dry_run)
    database_url = os.environ.get("SNAPPY_DATABASE_URL", "").strip()
    if not database_url:
        print("snappy-monolith: SNAPPY_DATABASE_URL is required", file=sys.stderr)
        return 2
    if args.command == "ownership":
        return _ownership(database_url, args)
    config = alembic_config(sqlalchemy_url(database_url))
    if args.command == "migrate":
        command.upgrade(config, "head")
    else:
        command.revision(config, message=args.message, autogenerate=True)
    return 0


def _ownership(database_url: str, args: argparse.Namespace) -> int:
    if args.action == "show":
        print(read_ownership_phase(database_url))
        return 0
    previous = set_ownership_phase(database_url, args.phase)
    print(f"ownership phase {previous} -> {args.phase}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
