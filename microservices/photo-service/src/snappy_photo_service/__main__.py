"""`python -m snappy_photo_service migrate` applies the database migrations; `sweep-objects`: see sweep.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snappy_photo_service.sweep import add_sweep_arguments, sweep_objects
from snappy_plumbing.migrations import ManagementCommands, OwnCommand

__all__ = ["MANAGEMENT", "alembic_config", "main"]


def _sweep(args: argparse.Namespace) -> int:
    return sweep_objects(args.grace_seconds, dry_run=args.dry_run)


MANAGEMENT = ManagementCommands(
    program="snappy-photo-service",
    description="Manage the Snappy photo service.",
    migrations=Path(__file__).parent / "migrations",
    own_commands=(
        OwnCommand(
            "sweep-objects",
            help="delete objects no photo references that are older than a grace period",
            add_arguments=add_sweep_arguments,
            run=_sweep,
        ),
    ),
)
# The console script's entry point, and the configuration tests and tools migrate with.
main = MANAGEMENT.main
alembic_config = MANAGEMENT.alembic_config

if __name__ == "__main__":
    sys.exit(main())
