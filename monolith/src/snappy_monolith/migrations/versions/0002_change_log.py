"""Change capture for the data migration: a change log fed by triggers on every table.

Every insert, update and delete of a user, photo or share (cascaded deletes included)
appends (table, row id, operation) to `change_log` in the same transaction. The entry
names the row, not its content: `snappy migrate sync` reads the row's current state when
it applies the entry, so entries can be applied again after a crash without harm.
TRUNCATE is not captured; the application never truncates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CAPTURED_TABLES = ("users", "photos", "shares")


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_change_log"),
    )
    op.execute(
        """
        CREATE FUNCTION snappy_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
    )
    for table in CAPTURED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_record_change AFTER INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION snappy_record_change()"
        )


def downgrade() -> None:
    for table in CAPTURED_TABLES:
        op.execute(f"DROP TRIGGER {table}_record_change ON {table}")
    op.execute("DROP FUNCTION snappy_record_change()")
    op.drop_table("change_log")
