"""`python -m snappy_user_service migrate` applies the database migrations; `revision -m` writes one."""

from __future__ import annotations

import sys
from pathlib import Path

from snappy_plumbing.migrations import ManagementCommands

__all__ = ["MANAGEMENT", "alembic_config", "main"]

MANAGEMENT = ManagementCommands(
    program="snappy-user-service",
    description="Manage Snappy's user-service.",
    migrations=Path(__file__).parent / "migrations",
)
# The console script's entry point, and the configuration tests and tools migrate with.
main = MANAGEMENT.main
alembic_config = MANAGEMENT.alembic_config

if __name__ == "__main__":
    sys.exit(main())
