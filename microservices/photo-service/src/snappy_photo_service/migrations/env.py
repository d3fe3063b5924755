"""Alembic environment of the photo service's database (its own version table)."""

from __future__ import annotations

from snappy_photo_service.models import Base
from snappy_plumbing.migrations import run_migrations

# Its own name, so the history cannot collide with another one in a shared database
# (the monolith's, while the data moves).
run_migrations(Base.metadata, version_table="alembic_version_photo_service")
