"""Idempotent uploads: `Idempotency-Key` on POST /api/v1/photos (IETF httpapi draft).

The same key from the same user with the same request (fingerprint: SHA-256 over the
file, caption and visibility) replays the photo the first request made; the same key with
another request is 422 idempotency-key-reused; a key whose request is still in flight is
409 idempotency-key-in-use. Keys are kept for 24 hours.

In flight means: another transaction holds the key's advisory lock. The lock is taken in
the upload's own transaction and released by its commit or rollback, so a crashed
request never leaves a key stuck. The row recording the key is written in that same
transaction as the photo, so a key is spent exactly when its photo exists.

A photo deleted since leaves its key spent: a retry gets 404 not-found rather than a
second copy of a photo its owner removed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from flask import request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from snappy_photo_service import photos
from snappy_photo_service.config import Limits
from snappy_photo_service.models import Photo, UploadRequest
from snappy_photo_service.storage import ObjectStorage
from snappy_plumbing.database import unit_of_work
from snappy_plumbing.errors import IdempotencyKeyInUse, IdempotencyKeyReused, NotFound
from snappy_plumbing.request_parsing import IDEMPOTENCY_KEY_HEADER, checked_idempotency_key

__all__ = [
    "KEY_HEADER",
    "KEY_LIFETIME",
    "claim",
    "idempotency_key",
    "record",
    "replayed_photo",
    "upload_at_most_once",
    "upload_fingerprint",
]

KEY_HEADER = IDEMPOTENCY_KEY_HEADER
KEY_LIFETIME = timedelta(hours=24)


def idempotency_key(value: str | None = None) -> str | None:
    """The request's Idempotency-Key (or `value`), checked; None when there is none."""
    raw = request.headers.get(KEY_HEADER) if value is None else value
    return None if raw is None else checked_idempotency_key(raw)


def upload_at_most_once(
    session: Session,
    storage: ObjectStorage,
    limits: Limits,
    *,
    owner_id: int,
    key: str | None,
    data: bytes,
    caption: str,
    visibility: str,
) -> Photo:
    """Upload and commit, or replay the photo `key` already made: the API's upload use case.

    Without a key every call uploads anew. The objects stored are deleted again when the
    row cannot be committed.
    """
    fingerprint = upload_fingerprint(data, caption, visibility)
    photo: Photo | None = None
    try:
        # One transaction from the key's lock to the photo's row: the commit releases the lock.
        with unit_of_work(session):
            if key is not None:
                earlier_photo_id = claim(session, owner_id, key, fingerprint)
                if earlier_photo_id is not None:
                    return replayed_photo(session, earlier_photo_id)
            photo = photos.upload_photo(
                session,
                storage,
                limits,
                owner_id=owner_id,
                data=data,
                caption=caption,
                visibility=visibility,
            )
            if key is not None:
                record(session, owner_id, key, fingerprint, photo.id)
    except BaseException:
        # `upload_photo` has dealt with its objects when it raised itself (photo is None).
        if photo is not None:
            photos.discard_objects(storage, photo)
        raise
    return photo


def upload_fingerprint(data: bytes, caption: str, visibility: str) -> str:
    """SHA-256 over the file, caption and visibility, each length-prefixed so none can bleed."""
    digest = hashlib.sha256()
    for part in (data, caption.encode("utf-8"), visibility.encode("utf-8")):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def claim(session: Session, owner_id: int, key: str, fingerprint: str) -> int | None:
    """Hold the key for this transaction; the photo id to replay, or None to upload anew."""
    if not session.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(owner_id, key)))):
        raise IdempotencyKeyInUse(f"An upload with this {KEY_HEADER} is still in progress; retry later")
    cutoff = datetime.now(UTC) - KEY_LIFETIME
    # Expired keys are forgotten here, so the table holds at most a day of keyed uploads.
    session.execute(delete(UploadRequest).where(UploadRequest.created_at < cutoff))
    earlier = session.get(UploadRequest, (owner_id, key))
    if earlier is None:
        return None
    if earlier.fingerprint != fingerprint:
        raise IdempotencyKeyReused(f"This {KEY_HEADER} was used for another upload; use a new key")
    return earlier.photo_id


def record(session: Session, owner_id: int, key: str, fingerprint: str, photo_id: int) -> None:
    """Remember the key with the photo it made, in the photo's transaction."""
    session.add(UploadRequest(owner_id=owner_id, key=key, fingerprint=fingerprint, photo_id=photo_id))
    session.flush()


def replayed_photo(session: Session, photo_id: int) -> Photo:
    """The photo an earlier request with the key made; 404 when it was deleted since."""
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise NotFound(f"The photo uploaded with this {KEY_HEADER} has been deleted")
    return photo


def _lock_id(owner_id: int, key: str) -> int:
    # Advisory locks take one bigint: a hash of both. A collision only makes two keys
    # wait for each other (409), it never mixes their requests.
    digest = hashlib.sha256(f"{owner_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
