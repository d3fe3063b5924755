"""The monolith's tables: users, photos and shares, in one PostgreSQL database."""

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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "ChangeLogEntry",
    "LoginThrottle",
    "OwnershipPhase",
    "Photo",
    "RevokedToken",
    "Share",
    "UploadRequest",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so Alembic names constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """Someone who can log in and own photos."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Photo(Base):
    """An uploaded image, its thumbnail, and where both are stored."""

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint("visibility IN ('private', 'public')", name="visibility"),
        Index("ix_photos_owner_id_id", "owner_id", "id"),
        Index("ix_photos_public_owner", "owner_id", "id", postgresql_where="visibility = 'public'"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    caption: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    thumbnail_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    owner: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Share(Base):
    """A photo made visible to one other user."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("photo_id", "user_id", name="uq_shares_photo_id_user_id"),
        Index("ix_shares_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    photo: Mapped[Photo] = relationship(lazy="joined", innerjoin=True)
    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class ChangeLogEntry(Base):
    """One row written to users, photos or shares: change capture for the data migration.

    Triggers (migration 0002) write these rows, never the application. The migration tool
    (`snappy migrate sync`) reads them in id order, applies each row's current state to the
    services' databases and deletes the entries it applied.
    """

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text)
    row_id: Mapped[int] = mapped_column(BigInteger)
    operation: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()")
    )


class LoginThrottle(Base):
    """Failed log-ins counted for one account or one client address, shared by every replica."""

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RevokedToken(Base):
    """A token ended by a log-out, kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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


class OwnershipPhase(Base):
    """The one row saying which part writes which data: the phase of the migration (0-4).

    Written by `snappy_monolith.ownership.set_ownership_phase` only; every replica reads it,
    so a change reaches all of them at once (docs/decisions.md, data ownership).
    """

    __tablename__ = "ownership_phase"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("phase BETWEEN 0 AND 4", name="phase"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    phase: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
