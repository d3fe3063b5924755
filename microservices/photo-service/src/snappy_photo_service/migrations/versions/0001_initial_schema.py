"""Photos and shares.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("thumbnail_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("object_key", name="uq_photos_object_key"),
        sa.UniqueConstraint("thumbnail_key", name="uq_photos_thumbnail_key"),
        sa.CheckConstraint("visibility IN ('private', 'public')", name="ck_photos_visibility"),
    )
    op.create_index("ix_photos_owner_id_id", "photos", ["owner_id", "id"])
    op.create_index(
        "ix_photos_public_owner",
        "photos",
        ["owner_id", "id"],
        postgresql_where=sa.text("visibility = 'public'"),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("photo_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name="fk_shares_photo_id_photos", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("photo_id", "user_id", name="uq_shares_photo_id_user_id"),
    )
    op.create_index("ix_shares_user_id_id", "shares", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("shares")
    op.drop_table("photos")
