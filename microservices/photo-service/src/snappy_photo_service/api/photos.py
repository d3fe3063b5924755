"""Photos, their bytes and thumbnails, shares, the feed and a user's public photos."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from snappy_photo_service import idempotency, photos
from snappy_photo_service.api.representations import (
    photo_json,
    photo_page_json,
    share_json,
    share_page_json,
)
from snappy_photo_service.api.requests import (
    authenticated_caller,
    json_object,
    page_request,
    string_field,
)
from snappy_photo_service.components import components
from snappy_photo_service.photos import PhotoChanges
from snappy_plumbing.database import request_session, unit_of_work
from snappy_plumbing.errors import (
    FieldError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from snappy_plumbing.pagination import Page

__all__ = ["register"]

UPLOAD_FIELDS = {"file", "caption", "visibility"}
UPLOAD_TEXT_FIELDS = {"caption", "visibility"}


def register(blueprint: Blueprint) -> None:
    """Add the photo, share, feed and user-photo routes to the API blueprint."""
    photo = "/photos/<photo_id:photo_id>"
    # Each path with its views by method, in the order Werkzeug matches them.
    routes: dict[str, dict[str, Callable[..., ResponseReturnValue]]] = {
        "/photos": {"POST": upload_photo, "GET": list_photos},
        photo: {"GET": get_photo, "PATCH": update_photo, "DELETE": delete_photo},
        f"{photo}/content": {"GET": get_photo_content},
        f"{photo}/thumbnail": {"GET": get_photo_thumbnail},
        f"{photo}/shares": {"POST": create_share, "GET": list_shares},
        f"{photo}/shares/<username>": {"DELETE": delete_share},
        "/feed": {"GET": get_feed},
        "/users/<username>/photos": {"GET": list_user_photos},
    }
    for path, views in routes.items():
        for method, view in views.items():
            blueprint.add_url_rule(path, view_func=view, methods=[method])


def upload_photo() -> tuple[Response, int, dict[str, str]]:
    """Upload an image (multipart: file, caption, visibility), at most once per Idempotency-Key."""
    caller = authenticated_caller()
    settings = components().settings
    key = idempotency.idempotency_key()
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("The request body must be multipart/form-data")
    upload = request.files.get("file")
    if upload is None:
        raise MalformedRequest("The multipart body has no 'file' part")
    errors = _upload_field_errors()
    if errors:
        raise ValidationFailed(errors)
    data = upload.stream.read(settings.limits.max_upload_bytes + 1)
    if len(data) > settings.limits.max_upload_bytes:
        raise PayloadTooLarge(f"The file is larger than {settings.limits.max_upload_bytes} bytes")
    photo = idempotency.upload_at_most_once(
        request_session(),
        components().storage,
        settings.limits,
        owner_id=caller.user_id,
        key=key,
        data=data,
        caption=request.form.get("caption", ""),
        visibility=request.form.get("visibility", "private"),
    )
    location = url_for("api.get_photo", photo_id=photo.id)
    return jsonify(photo_json(photo, caller.username)), 201, {"Location": location}


def _upload_field_errors() -> list[FieldError]:
    """Parts the upload form must not have: unknown, repeated, or text fields sent as files."""
    names = request.form.keys() | request.files.keys()
    if None in names:
        # Content-Disposition without a name: no field to match the part to, or to report.
        raise MalformedRequest("A part of the multipart body has no name")
    errors = [FieldError(name, "is not a known field") for name in sorted(names - UPLOAD_FIELDS)]
    # A repeated part is ambiguous: refuse it rather than pick one of the values.
    errors += [
        FieldError(name, "must be given once")
        for name in sorted(names & UPLOAD_FIELDS)
        if len(request.form.getlist(name)) + len(request.files.getlist(name)) > 1
    ]
    errors += [
        FieldError(name, "must be a text field, not a file")
        for name in sorted(request.files.keys() & UPLOAD_TEXT_FIELDS)
    ]
    return errors


def list_photos() -> Response:
    """The caller's photos, newest first."""
    caller = authenticated_caller()
    page = photos.list_owned_photos(request_session(), caller.user_id, page_request())
    return jsonify(photo_page_json(page, {caller.user_id: caller.username}))


def get_photo(photo_id: int) -> Response:
    """A photo's metadata, if the caller may see it."""
    caller = authenticated_caller()
    photo = photos.get_visible_photo(request_session(), caller.user_id, photo_id)
    owner = photos.owner_username(components().users, caller, photo)
    return jsonify(photo_json(photo, owner))


def get_photo_content(photo_id: int) -> Response:
    """The image exactly as uploaded."""
    caller = authenticated_caller()
    photo = photos.get_visible_photo(request_session(), caller.user_id, photo_id)
    return _image_response(components().storage.get(photo.object_key), photo.content_type)


def get_photo_thumbnail(photo_id: int) -> Response:
    """The photo's JPEG thumbnail."""
    caller = authenticated_caller()
    photo = photos.get_visible_photo(request_session(), caller.user_id, photo_id)
    return _image_response(components().storage.get(photo.thumbnail_key), "image/jpeg")


def update_photo(photo_id: int) -> Response:
    """Change a photo's caption or visibility (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    body = json_object(allowed={"caption", "visibility"}, required=set())
    if not body:
        raise ValidationFailed([FieldError("body", "name at least one of caption, visibility")])
    changes = PhotoChanges(
        caption=string_field(body, "caption") if "caption" in body else None,
        visibility=string_field(body, "visibility") if "visibility" in body else None,
    )
    with unit_of_work(session):
        photos.update_photo(session, components().settings.limits, photo, changes)
    return jsonify(photo_json(photo, caller.username))


def delete_photo(photo_id: int) -> tuple[str, int]:
    """Delete a photo, its shares and its objects (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    with unit_of_work(session):
        photos.delete_photo(session, photo)
    # After the commit: an object left behind is invisible, a row without its object is not.
    photos.discard_objects(components().storage, photo)
    return "", 204


def create_share(photo_id: int) -> tuple[Response, int, dict[str, str]]:
    """Share a photo with a user (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    body = json_object(allowed={"username"}, required={"username"})
    username = string_field(body, "username")
    with unit_of_work(session):
        share = photos.share_photo(session, components().users, caller, photo, username)
    location = url_for("api.delete_share", photo_id=photo.id, username=username)
    return jsonify(share_json(share, username)), 201, {"Location": location}


def list_shares(photo_id: int) -> Response:
    """Who a photo is shared with (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    page = photos.list_shares(session, photo, page_request())
    usernames = photos.usernames(components().users, caller, (share.user_id for share in page.items))
    return jsonify(share_page_json(page, usernames))


def delete_share(photo_id: int, username: str) -> tuple[str, int]:
    """Revoke a share (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    with unit_of_work(session):
        photos.revoke_share(session, components().users, caller, photo, username)
    return "", 204


def get_feed() -> Response:
    """The photos shared with the caller, most recently shared first."""
    caller = authenticated_caller()
    shares = photos.feed(request_session(), caller.user_id, page_request())
    page = Page(items=[share.photo for share in shares.items], next_cursor=shares.next_cursor)
    usernames = photos.usernames(components().users, caller, (photo.owner_id for photo in page.items))
    return jsonify(photo_page_json(page, usernames))


def list_user_photos(username: str) -> Response:
    """A user's public photos, newest first."""
    caller = authenticated_caller()
    page = page_request()
    owner_id = photos.find_user_id(components().users, caller, username)
    if owner_id is None:
        raise NotFound(f"No user named {username!r}")
    public = photos.list_public_photos(request_session(), owner_id, page)
    return jsonify(photo_page_json(public, {owner_id: username}))


def _image_response(data: bytes, content_type: str) -> Response:
    response = Response(data, mimetype=content_type)
    # Private: visibility can change, so shared caches must not keep a copy.
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
