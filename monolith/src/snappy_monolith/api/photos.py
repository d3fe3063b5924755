"""Photos, their bytes and thumbnails, shares and the feed."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from snappy_monolith import idempotency, photos
from snappy_monolith.api.representations import page_json, photo_json, share_json
from snappy_monolith.api.requests import (
    authenticated_caller,
    json_object,
    owned_here,
    page_request,
    string_field,
)
from snappy_monolith.components import components
from snappy_monolith.database import request_session
from snappy_monolith.errors import (
    FieldError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from snappy_monolith.photos import PhotoChanges

__all__ = ["register"]

UPLOAD_FIELDS = {"file", "caption", "visibility"}
UPLOAD_TEXT_FIELDS = {"caption", "visibility"}


def register(blueprint: Blueprint) -> None:
    """Add the photo, share and feed routes to the API blueprint."""
    photos_here = owned_here("photos")

    def rule(path: str, *, view_func: Callable[..., ResponseReturnValue], methods: list[str]) -> None:
        blueprint.add_url_rule(path, view_func=photos_here(view_func), methods=methods)

    rule("/photos", view_func=upload_photo, methods=["POST"])
    rule("/photos", view_func=list_photos, methods=["GET"])
    rule("/photos/<photo_id:photo_id>", view_func=get_photo, methods=["GET"])
    rule("/photos/<photo_id:photo_id>", view_func=update_photo, methods=["PATCH"])
    rule("/photos/<photo_id:photo_id>", view_func=delete_photo, methods=["DELETE"])
    rule("/photos/<photo_id:photo_id>/content", view_func=get_photo_content, methods=["GET"])
    rule("/photos/<photo_id:photo_id>/thumbnail", view_func=get_photo_thumbnail, methods=["GET"])
    rule("/photos/<photo_id:photo_id>/shares", view_func=create_share, methods=["POST"])
    rule("/photos/<photo_id:photo_id>/shares", view_func=list_shares, methods=["GET"])
    rule("/photos/<photo_id:photo_id>/shares/<username>", view_func=delete_share, methods=["DELETE"])
    rule("/feed", view_func=get_feed, methods=["GET"])


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
    caption = request.form.get("caption", "")
    visibility = request.form.get("visibility", "private")
    photo = idempotency.upload_at_most_once(
        request_session(),
        components().storage,
        settings.limits,
        owner_id=caller.user_id,
        key=key,
        data=data,
        caption=caption,
        visibility=visibility,
    )
    location = url_for("api.get_photo", photo_id=photo.id)
    return jsonify(photo_json(photo)), 201, {"Location": location}


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
    return jsonify(page_json(page, photo_json))


def get_photo(photo_id: int) -> Response:
    """A photo's metadata, if the caller may see it."""
    caller = authenticated_caller()
    return jsonify(photo_json(photos.get_visible_photo(request_session(), caller.user_id, photo_id)))


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
    photos.update_photo(session, components().settings.limits, photo, changes)
    session.commit()
    return jsonify(photo_json(photo))


def delete_photo(photo_id: int) -> tuple[str, int]:
    """Delete a photo, its shares and its objects (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    photos.delete_photo(session, photo)
    session.commit()
    # After the commit: an object left behind is invisible, a row without its object is not.
    photos.discard_objects(components().storage, photo)
    return "", 204


def create_share(photo_id: int) -> tuple[Response, int, dict[str, str]]:
    """Share a photo with a user (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    body = json_object(allowed={"username"}, required={"username"})
    share = photos.share_photo(session, photo, string_field(body, "username"))
    session.commit()
    location = url_for("api.delete_share", photo_id=photo.id, username=share.user.username)
    return jsonify(share_json(share)), 201, {"Location": location}


def list_shares(photo_id: int) -> Response:
    """Who a photo is shared with (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    return jsonify(page_json(photos.list_shares(session, photo, page_request()), share_json))


def delete_share(photo_id: int, username: str) -> tuple[str, int]:
    """Revoke a share (owner only)."""
    caller = authenticated_caller()
    session = request_session()
    photo = photos.get_owned_photo(session, caller.user_id, photo_id)
    photos.revoke_share(session, photo, username)
    session.commit()
    return "", 204


def get_feed() -> Response:
    """The photos shared with the caller, most recently shared first."""
    caller = authenticated_caller()
    page = photos.feed(request_session(), caller.user_id, page_request())
    return jsonify(page_json(page, lambda share: photo_json(share.photo)))


def _image_response(data: bytes, content_type: str) -> Response:
    response = Response(data, mimetype=content_type)
    # Private: visibility can change, so shared caches must not keep a copy.
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
