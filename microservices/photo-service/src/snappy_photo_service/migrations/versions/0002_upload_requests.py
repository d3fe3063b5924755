"""Uploads sent with an Idempotency-Key, kept for 24 hours.

One row per (owner, key): the request's fingerprint (SHA-256 over the file, caption and
visibility) and the photo it made. A retry with the same key and request replays that
photo; the same key with another request is refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_requests",
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("photo_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key", name="pk_upload_requests"),
    )
    op.create_index("ix_upload_requests_created_at", "upload_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_upload_requests_created_at", table_name="upload_requests")
    op.drop_table("upload_requests")
