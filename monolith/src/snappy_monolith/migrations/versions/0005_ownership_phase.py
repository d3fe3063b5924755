"""The ownership phase: which part writes users, tokens, photos and shares (one row).

Phase 0 is the monolith's own; from phase 1 user-service owns users and tokens, from
phase 2 photo-service owns photos, shares and the feed too (docs/decisions.md, ADR on
data ownership). Every replica reads the one row, so a change is seen by all of them at
once, without a restart.

The change log (migration 0002) records only the writes of tables the monolith owns in
the current phase: what it writes to a table a service owns are the reference rows of
users its photos name (snappy_monolith.user_directory), copies of the service's own rows
that `snappy migrate sync` must never send back to it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ownership_phase",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("phase", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ownership_phase_one_row"),
        sa.CheckConstraint("phase BETWEEN 0 AND 4", name="ck_ownership_phase_phase"),
        sa.PrimaryKeyConstraint("id", name="pk_ownership_phase"),
    )
    op.execute("INSERT INTO ownership_phase (id, phase) VALUES (1, 0)")
    op.execute(_RECORD_OWNED_CHANGES)


def downgrade() -> None:
    op.execute(_RECORD_EVERY_CHANGE)
    op.drop_table("ownership_phase")


# The phase from which a service owns each captured table: snappy_monolith.ownership.
_RECORD_OWNED_CHANGES = """
CREATE OR REPLACE FUNCTION snappy_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_phase smallint;
BEGIN
    SELECT phase INTO current_phase FROM ownership_phase WHERE id = 1;
    -- In parentheses: PL/pgSQL's IF would take the CASE's THEN for its own.
    IF COALESCE(current_phase, 0) >= (CASE TG_TABLE_NAME WHEN 'users' THEN 1 ELSE 2 END) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.id <> OLD.id) THEN
        INSERT INTO change_log (table_name, row_id, operation)
        VALUES (TG_TABLE_NAME, OLD.id, 'delete');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO change_log (table_name, row_id, operation)
        VALUES (TG_TABLE_NAME, NEW.id, lower(TG_OP));
    END IF;
    RETURN NULL;
END
$$
"""

# Migration 0002's function, as it was.
_RECORD_EVERY_CHANGE = """
CREATE OR REPLACE FUNCTION snappy_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.id <> OLD.id) THEN
        INSERT INTO change_log (table_name, row_id, operation)
        VALUES (TG_TABLE_NAME, OLD.id, 'delete');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO change_log (table_name, row_id, operation)
        VALUES (TG_TABLE_NAME, NEW.id, lower(TG_OP));
    END IF;
    RETURN NULL;
END
$$
"""
