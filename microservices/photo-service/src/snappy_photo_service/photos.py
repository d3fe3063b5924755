"""Photo management: uploads, visibility, shares and the feed.

Functions take the session and never commit; the caller owns the transaction. Uploads
store their objects first and are undone by `discard_objects` when the row cannot be
committed, so a failed upload leaves neither a row nor an object behind.

Users live in user-service: rows hold user ids, and the `UserDirectory` turns usernames
into ids and back. The caller's own id and username come from their token, so they are
never looked up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from snappy_photo_service.config import Limits
from snappy_photo_service.images import inspect_image, make_thumbnail
from snappy_photo_service.models import Photo, Share
from snappy_photo_service.storage import ObjectStorage, StorageError, StorageUnavailable
from snappy_photo_service.user_directory import UserDirectory
from snappy_photo_service.validation import caption_errors, visibility_errors
from snappy_plumbing.database import add_in_savepoint
from snappy_plumbing.errors import AlreadyShared, FieldError, NotFound, UserNotFound, ValidationFailed
from snappy_plumbing.pagination import Page, PageRequest, page_from_rows
from snappy_plumbing.tokens import TokenClaims

__all__ = [
    "PhotoChanges",
    "delete_photo",
    "discard_objects",
    "feed",
    "find_user_id",
    "get_owned_photo",
    "get_visible_photo",
    "list_owned_photos",
    "list_public_photos",
    "list_shares",
    "owner_username",
    "revoke_share",
    "share_photo",
    "update_photo",
    "upload_photo",
    "usernames",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoChanges:
    """What an owner asked to change; None leaves a field as it is."""

    caption: str | None = None
    visibility: str | None = None


def upload_photo(
    session: Session,
    storage: ObjectStorage,
    limits: Limits,
    *,
    owner_id: int,
    data: bytes,
    caption: str,
    visibility: str,
) -> Photo:
    """Validate, store the image and its thumbnail, and add the row (not yet committed)."""
    errors = caption_errors(caption, limits.max_caption_length) + visibility_errors(visibility)
    if errors:
        raise ValidationFailed(errors)
    info = inspect_image(data, limits.max_image_pixels)
    thumbnail = make_thumbnail(data, limits.thumbnail_size)
    # Keys are generated here, never taken from the client.
    object_id = uuid.uuid4().hex
    photo = Photo(
        owner_id=owner_id,
        caption=caption,
        visibility=visibility,
        content_type=info.content_type,
        width=info.width,
        height=info.height,
        size_bytes=len(data),
        object_key=f"photos/{object_id}",
        thumbnail_key=f"thumbnails/{object_id}.jpg",
    )
    storage.put(photo.object_key, data, info.content_type)
    try:
        storage.put(photo.thumbnail_key, thumbnail, "image/jpeg")
        session.add(photo)
        session.flush()
    except StorageUnavailable:
        # The deletes would wait out the same timeouts and blow the request's budget; an
        # object without a row is invisible, so it is logged and left for a sweep.
        logger.warning("left objects of a failed upload", extra={"object_key": photo.object_key})
        raise
    except BaseException:
        discard_objects(storage, photo)
        raise
    return photo


def discard_objects(storage: ObjectStorage, photo: Photo) -> None:
    """Remove a photo's objects; a failure is logged, since the row is what users see."""
    try:
        storage.delete([photo.object_key, photo.thumbnail_key])
    except StorageError:
        logger.exception("could not remove objects of photo", extra={"object_key": photo.object_key})


def get_visible_photo(session: Session, viewer_id: int, photo_id: int) -> Photo:
    """The photo if the viewer owns it, it is shared with them, or it is public; else 404."""
    shared_with_viewer = exists().where(Share.photo_id == Photo.id, Share.user_id == viewer_id)
    photo = session.scalars(
        select(Photo).where(
            Photo.id == photo_id,
            or_(Photo.owner_id == viewer_id, Photo.visibility == "public", shared_with_viewer),
        )
    ).one_or_none()
    if photo is None:
        raise NotFound(f"No photo {photo_id}")
    return photo


def get_owned_photo(session: Session, owner_id: int, photo_id: int) -> Photo:
    """The photo if the caller owns it; 404 otherwise, whether or not it exists."""
    photo = session.scalars(
        select(Photo).where(Photo.id == photo_id, Photo.owner_id == owner_id)
    ).one_or_none()
    if photo is None:
        raise NotFound(f"No photo {photo_id}")
    return photo


def list_owned_photos(session: Session, owner_id: int, page: PageRequest) -> Page[Photo]:
    """The owner's photos, newest first."""
    query = select(Photo).where(Photo.owner_id == owner_id)
    return _photo_page(session, query, page)


def list_public_photos(session: Session, owner_id: int, page: PageRequest) -> Page[Photo]:
    """A user's public photos, newest first."""
    query = select(Photo).where(Photo.owner_id == owner_id, Photo.visibility == "public")
    return _photo_page(session, query, page)


def update_photo(session: Session, limits: Limits, photo: Photo, changes: PhotoChanges) -> Photo:
    """Change caption and/or visibility."""
    errors: list[FieldError] = []
    if changes.caption is not None:
        errors += caption_errors(changes.caption, limits.max_caption_length)
    if changes.visibility is not None:
        errors += visibility_errors(changes.visibility)
    if errors:
        raise ValidationFailed(errors)
    if changes.caption is not None:
        photo.caption = changes.caption
    if changes.visibility is not None:
        photo.visibility = changes.visibility
    session.flush()
    return photo


def delete_photo(session: Session, photo: Photo) -> None:
    """Delete the row and its shares; the caller removes the objects after committing."""
    session.delete(photo)
    session.flush()


def share_photo(
    session: Session, directory: UserDirectory, caller: TokenClaims, photo: Photo, username: str
) -> Share:
    """Share a photo with a user; 404 for an unknown user, 409 when already shared."""
    user_id = find_user_id(directory, caller, username)
    if user_id is None:
        raise UserNotFound(f"No user named {username!r}")
    if user_id == photo.owner_id:
        raise ValidationFailed([FieldError("username", "a photo cannot be shared with its owner")])
    share = Share(photo=photo, user_id=user_id)
    if not add_in_savepoint(session, share):
        raise AlreadyShared(f"Photo {photo.id} is already shared with {username!r}")
    return share


def list_shares(session: Session, photo: Photo, page: PageRequest) -> Page[Share]:
    """Who a photo is shared with, newest share first."""
    query = select(Share).where(Share.photo_id == photo.id)
    if page.before_id is not None:
        query = query.where(Share.id < page.before_id)
    rows = session.scalars(query.order_by(Share.id.desc()).limit(page.limit + 1)).all()
    return page_from_rows(rows, page, lambda share: share.id)


def revoke_share(
    session: Session, directory: UserDirectory, caller: TokenClaims, photo: Photo, username: str
) -> None:
    """Stop sharing a photo with a user; 404 when it was not shared with them."""
    user_id = find_user_id(directory, caller, username)
    share = None
    if user_id is not None:
        share = session.scalars(
            select(Share).where(Share.photo_id == photo.id, Share.user_id == user_id)
        ).one_or_none()
    if share is None:
        raise NotFound(f"Photo {photo.id} is not shared with {username!r}")
    session.delete(share)
    session.flush()


def feed(session: Session, user_id: int, page: PageRequest) -> Page[Share]:
    """The shares made to a user, newest share first, each with its photo."""
    query = select(Share).where(Share.user_id == user_id)
    if page.before_id is not None:
        query = query.where(Share.id < page.before_id)
    rows = session.scalars(query.order_by(Share.id.desc()).limit(page.limit + 1)).all()
    return page_from_rows(rows, page, lambda share: share.id)


def usernames(directory: UserDirectory, caller: TokenClaims, user_ids: Iterable[int]) -> dict[int, str]:
    """Usernames by id, in at most one call to user-service; unknown users are left out."""
    wanted = set(user_ids)
    found = {caller.user_id: caller.username} if caller.user_id in wanted else {}
    found.update(directory.usernames(wanted - {caller.user_id}))
    return found


def owner_username(directory: UserDirectory, caller: TokenClaims, photo: Photo) -> str:
    """The username of a photo's owner; 404 when user-service no longer knows them."""
    owner = usernames(directory, caller, [photo.owner_id]).get(photo.owner_id)
    if owner is None:
        # The monolith deletes a user's photos with the user; here they are merely orphaned.
        raise NotFound(f"No photo {photo.id}")
    return owner


def find_user_id(directory: UserDirectory, caller: TokenClaims, username: str) -> int | None:
    """The id of the user with this username, if any."""
    if username == caller.username:
        return caller.user_id
    return directory.user_id(username)


def _photo_page(session: Session, query: Select[Photo], page: PageRequest) -> Page[Photo]:
    if page.before_id is not None:
        query = query.where(Photo.id < page.before_id)
    rows = session.scalars(query.order_by(Photo.id.desc()).limit(page.limit + 1)).all()
    return page_from_rows(rows, page, lambda photo: photo.id)
