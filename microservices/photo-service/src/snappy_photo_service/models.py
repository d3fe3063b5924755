"""The photo service's tables: photos and shares, in its own PostgreSQL database.

They are the monolith's tables without the users: `photos.owner_id` and `shares.user_id`
name users that live in user-service, so they carry no foreign key. Ids, constraint and
index names are the monolith's, so its rows can be copied here as they are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from snappy_plumbing.database import NAMING_CONVENTION

__all__ = ["Base", "Photo", "Share", "UploadRequest"]


class Base(DeclarativeBase):
    """Declarative base with Snappy's naming convention, so Alembic names constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Photo(Base):
    """An uploaded image, its thumbnail, and where both are stored."""

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint("visibility IN ('private', 'public')", name="visibility"),
        Index("ix_photos_owner_id_id", "owner_id", "id"),
        Index("ix_photos_public_owner", "owner_id", "id", postgresql_where="visibility = 'public'"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # A user id of user-service.
    owner_id: Mapped[int] = mapped_column(BigInteger)
    caption: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    thumbnail_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Share(Base):
    """A photo made visible to one other user."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("photo_id", "user_id", name="uq_shares_photo_id_user_id"),
        Index("ix_shares_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    # A user id of user-service.
    user_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    photo: Mapped[Photo] = relationship(lazy="joined", innerjoin=True)


class UploadRequest(Base):
    """An upload sent with an Idempotency-Key: who sent it, what it asked, the photo it made.

    Kept for 24 hours. `photo_id` has no foreign key on purpose: a photo deleted since
    leaves its key spent, so a late retry cannot bring the photo back.
    """

    __tablename__ = "upload_requests"
    __table_args__ = (Index("ix_upload_requests_created_at", "created_at"),)

    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    photo_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
