"""The server-rendered pages. They call the user and photo modules as functions.

The signed-in user's access token lives in Flask's signed session cookie, the same
cookie format the extracted web-ui uses later, so a session survives the migration.
Every form carries a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers.response import Response as WerkzeugResponse

from snappy_monolith import accounts, idempotency, ownership, photos, revocations, users
from snappy_monolith.components import components
from snappy_monolith.database import request_session
from snappy_monolith.errors import (
    RETRY_AFTER_SECONDS,
    AuthenticationRequired,
    IdempotencyKeyInUse,
    InvalidCredentials,
    InvalidParameter,
    NotFound,
    ServiceUnavailable,
    SnappyError,
    TooManyAttempts,
    ValidationFailed,
)
from snappy_monolith.pagination import PageRequest, parse_page_request
from snappy_monolith.photo_catalog import RemotePhotos
from snappy_monolith.photos import PhotoChanges
from snappy_monolith.throttle import throttled_log_in
from snappy_monolith.tokens import TokenClaims

__all__ = ["create_web_blueprint", "render_error_page"]

P = ParamSpec("P")
R = TypeVar("R")
Page = str | Response | WerkzeugResponse | tuple[str, int] | tuple[str, int, dict[str, str]]

# The API's bounds on a username and a password.
CREDENTIAL_MAX_LENGTH = 256
# Random bytes in the upload form's idempotency key (32 URL-safe characters).
UPLOAD_KEY_BYTES = 24
UPLOAD_KEY_FIELD = "idempotency_key"
# A `next` target longer than this is no page of Snappy's: the login page ignores it.
MAX_NEXT_LENGTH = 2048
# Shares listed on a photo's page.
SHARES_SHOWN = 100
# Percent-decodings of a `next` target that are checked; one still encoded after them is ignored.
NEXT_DECODING_ROUNDS = 3

web = Blueprint("web", __name__)


def create_web_blueprint() -> Blueprint:
    """The blueprint holding every page."""
    return web


def current_viewer() -> TokenClaims | None:
    """The signed-in user, or None; an expired or invalid token signs the user out."""
    if "viewer" in g:
        viewer: TokenClaims | None = g.viewer
        return viewer
    # Set before the database is asked: the error page rendered when it does not answer
    # must not ask again (its navigation then shows no one signed in), or it fails too.
    g.viewer = None
    viewer = None
    token = session.get("access_token")
    if isinstance(token, str):
        try:
            # As for the API: the token must bind an existing account and be unrevoked.
            viewer = accounts.bound_caller(request_session(), token)
        except AuthenticationRequired:
            session.clear()
            flash("Your session has expired. Please log in again.", "info")
    g.viewer = viewer
    return viewer


def login_required(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
    """Send visitors who are not signed in to the login page."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
        if current_viewer() is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def _viewer() -> TokenClaims:
    viewer = current_viewer()
    if viewer is None:  # login_required guarantees a viewer; this guards misuse.
        abort(401)
    return viewer


@web.app_context_processor
def inject_viewer() -> dict[str, object]:
    """Make the signed-in user available to every template."""
    return {"viewer": current_viewer()}


@web.get("/")
def index() -> Page:
    """The feed for a signed-in user; the landing page otherwise."""
    viewer = current_viewer()
    if viewer is None:
        return render_template("landing.html")
    if ownership.photos_owned_by_service(request_session()):
        shared, next_cursor = _photo_service().feed(_token(), *_remote_page())
        return render_template("feed.html", shares=shared, next_cursor=next_cursor)
    page = photos.feed(request_session(), viewer.user_id, _page_request())
    return render_template("feed.html", shares=page.items, next_cursor=page.next_cursor)


@web.route("/signup", methods=["GET", "POST"])
def signup() -> Page:
    """Create an account, then sign in."""
    if request.method == "GET":
        return render_template("signup.html", form={}, errors={})
    form = {name: request.form.get(name, "") for name in ("username", "display_name")}
    db = request_session()
    password = request.form.get("password", "")
    try:
        if ownership.users_owned_by_service(db):
            # user-service writes the account and issues its token (snappy_monolith.user_directory).
            remote = components().user_service()
            account = remote.sign_up(form["username"], password, form["display_name"])
            _keep_token(remote.log_in(account.username, password, request.remote_addr))
            display_name = account.display_name
        else:
            user = users.sign_up(db, form["username"], password, form["display_name"])
            db.commit()
            _sign_in(user.id, user.username)
            display_name = user.display_name
    except ValidationFailed as error:
        return render_template("signup.html", form=form, errors=_field_messages(error)), 422
    except ServiceUnavailable:
        raise
    except SnappyError as error:
        return render_template("signup.html", form=form, errors={"username": error.detail}), error.status
    flash(f"Welcome to Snappy, {display_name}!", "success")
    return redirect(url_for("web.index"))


@web.route("/login", methods=["GET", "POST"])
def login() -> Page:
    """Exchange a username and password for a session."""
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", username="", next_page=next_page, error=None)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        if not (1 <= len(username) <= CREDENTIAL_MAX_LENGTH and 1 <= len(password) <= CREDENTIAL_MAX_LENGTH):
            # What the API refuses as invalid is simply wrong here, as on web-ui's page, and
            # costs no password check and no count in the throttle.
            raise InvalidCredentials("The username or password is wrong")
        db = request_session()
        if ownership.users_owned_by_service(db):
            # user-service checks the password, counts the attempt and issues the token.
            _keep_token(components().user_service().log_in(username, password, request.remote_addr))
        else:
            user = throttled_log_in(db, username, password)
            _sign_in(user.id, user.username)
    except TooManyAttempts as error:
        page = render_template("login.html", username=username, next_page=next_page, error=error.detail)
        return page, 429, {"Retry-After": str(error.retry_after_seconds)}
    except ServiceUnavailable:
        raise
    except SnappyError as error:
        page = render_template("login.html", username=username, next_page=next_page, error=error.detail)
        return page, 401
    return redirect(next_page or url_for("web.index"))


@web.post("/logout")
def logout() -> WerkzeugResponse:
    """Revoke the session's token, then forget the session: a replayed cookie opens nothing."""
    viewer = current_viewer()
    if viewer is not None:
        db = request_session()
        token = session.get("access_token")
        if ownership.users_owned_by_service(db) and isinstance(token, str):
            components().user_service().log_out(token)
        else:
            revocations.revoke(db, viewer.token_id, viewer.expires_at)
            db.commit()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("web.index"))


@web.get("/photos")
@login_required
def my_photos() -> Page:
    """The signed-in user's photos."""
    if ownership.photos_owned_by_service(request_session()):
        remote = _photo_service().own_photos(_token(), *_remote_page())
        return render_template("my_photos.html", photos=remote.items, next_cursor=remote.next_cursor)
    page = photos.list_owned_photos(request_session(), _viewer().user_id, _page_request())
    return render_template("my_photos.html", photos=page.items, next_cursor=page.next_cursor)


@web.route("/upload", methods=["GET", "POST"])
@login_required
def upload() -> Page:
    """Upload a photo, at most once per rendering of the form (its hidden idempotency key)."""
    if request.method == "GET":
        return _upload_page({}, None, _new_upload_key())
    form = {name: request.form.get(name, "") for name in ("caption", "visibility")}
    upload_file = request.files.get("file")
    settings = components().settings
    try:
        key = _submitted_upload_key()
    except SnappyError as error:
        return _upload_page(form, error.detail, _new_upload_key()), error.status
    if upload_file is None or not upload_file.filename:
        return _upload_page(form, "Choose an image to upload.", _new_upload_key()), 400
    data = upload_file.stream.read(settings.limits.max_upload_bytes + 1)
    if len(data) > settings.limits.max_upload_bytes:
        message = f"The file is larger than {settings.limits.max_upload_bytes // (1024 * 1024)} MiB."
        return _upload_page(form, message, _new_upload_key()), 413
    try:
        if ownership.photos_owned_by_service(request_session()):
            # photo-service stores it; the form's key is its Idempotency-Key, as for the API.
            photo_id = _photo_service().upload(
                _token(),
                data=data,
                caption=form["caption"],
                visibility=form["visibility"] or "private",
                idempotency_key=key,
            )
        else:
            # The API's use case: the form's key replays a photo it already made.
            photo_id = idempotency.upload_at_most_once(
                request_session(),
                components().storage,
                settings.limits,
                owner_id=_viewer().user_id,
                key=key,
                data=data,
                caption=form["caption"],
                visibility=form["visibility"] or "private",
            ).id
    except ServiceUnavailable:
        raise
    except SnappyError as error:
        return _upload_page(form, error.detail, _upload_key_after(error, key)), error.status
    flash("Photo uploaded.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.get("/photos/<photo_id:photo_id>")
@login_required
def photo_detail(photo_id: int) -> Page:
    """A photo, with the owner's share, edit and delete forms."""
    db = request_session()
    if ownership.photos_owned_by_service(db):
        remote = _photo_service()
        shown = remote.photo(_token(), photo_id)
        owns = shown.owner.username == _viewer().username
        listed = remote.shares(_token(), photo_id, SHARES_SHOWN) if owns else []
        return render_template("photo.html", photo=shown, is_owner=owns, shares=listed)
    photo = photos.get_visible_photo(db, _viewer().user_id, photo_id)
    is_owner = photo.owner_id == _viewer().user_id
    shares = photos.list_shares(db, photo, PageRequest(limit=SHARES_SHOWN)).items if is_owner else []
    return render_template("photo.html", photo=photo, is_owner=is_owner, shares=shares)


@web.get("/photos/<photo_id:photo_id>/image")
@login_required
def photo_image(photo_id: int) -> Response:
    """The image bytes for pages, under the same visibility rule as the API."""
    if ownership.photos_owned_by_service(request_session()):
        return _image(*_photo_service().content(_token(), photo_id, thumbnail=False))
    photo = photos.get_visible_photo(request_session(), _viewer().user_id, photo_id)
    return _image(components().storage.get(photo.object_key), photo.content_type)


@web.get("/photos/<photo_id:photo_id>/thumb")
@login_required
def photo_thumbnail(photo_id: int) -> Response:
    """The thumbnail bytes for pages."""
    if ownership.photos_owned_by_service(request_session()):
        return _image(*_photo_service().content(_token(), photo_id, thumbnail=True))
    photo = photos.get_visible_photo(request_session(), _viewer().user_id, photo_id)
    return _image(components().storage.get(photo.thumbnail_key), "image/jpeg")


@web.post("/photos/<photo_id:photo_id>/edit")
@login_required
def edit_photo(photo_id: int) -> Page:
    """Change caption and visibility."""
    db = request_session()
    if ownership.photos_owned_by_service(db):
        asked = {name: request.form[name] for name in ("caption", "visibility") if name in request.form}
        try:
            _photo_service().update(_token(), photo_id, asked)
        except ValidationFailed as error:
            flash(error.detail, "error")
            return redirect(url_for("web.photo_detail", photo_id=photo_id))
        flash("Photo updated.", "success")
        return redirect(url_for("web.photo_detail", photo_id=photo_id))
    photo = photos.get_owned_photo(db, _viewer().user_id, photo_id)
    changes = PhotoChanges(
        caption=request.form.get("caption", photo.caption),
        visibility=request.form.get("visibility", photo.visibility),
    )
    try:
        photos.update_photo(db, components().settings.limits, photo, changes)
    except ValidationFailed as error:
        flash(error.detail, "error")
        return redirect(url_for("web.photo_detail", photo_id=photo_id))
    db.commit()
    flash("Photo updated.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.post("/photos/<photo_id:photo_id>/delete")
@login_required
def delete_photo(photo_id: int) -> WerkzeugResponse:
    """Delete the photo and its objects."""
    db = request_session()
    if ownership.photos_owned_by_service(db):
        _photo_service().delete(_token(), photo_id)
        flash("Photo deleted.", "success")
        return redirect(url_for("web.my_photos"))
    photo = photos.get_owned_photo(db, _viewer().user_id, photo_id)
    photos.delete_photo(db, photo)
    db.commit()
    photos.discard_objects(components().storage, photo)
    flash("Photo deleted.", "success")
    return redirect(url_for("web.my_photos"))


@web.post("/photos/<photo_id:photo_id>/shares")
@login_required
def share_photo(photo_id: int) -> WerkzeugResponse:
    """Share with a username."""
    db = request_session()
    username = request.form.get("username", "").strip()
    try:
        if ownership.photos_owned_by_service(db):
            _photo_service().share(_token(), photo_id, username)
        else:
            photos.share_photo(db, photos.get_owned_photo(db, _viewer().user_id, photo_id), username)
    except (NotFound, ServiceUnavailable):
        # A photo the visitor does not own is a missing page, as it always was; an unknown
        # username (UserNotFound) is a message on the photo's page.
        raise
    except SnappyError as error:
        flash(error.detail, "error")
        return redirect(url_for("web.photo_detail", photo_id=photo_id))
    db.commit()
    flash(f"Shared with {username}.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.post("/photos/<photo_id:photo_id>/shares/<username>/revoke")
@login_required
def revoke_share(photo_id: int, username: str) -> WerkzeugResponse:
    """Stop sharing with a username."""
    db = request_session()
    if ownership.photos_owned_by_service(db):
        _photo_service().revoke(_token(), photo_id, username)
        flash(f"No longer shared with {username}.", "success")
        return redirect(url_for("web.photo_detail", photo_id=photo_id))
    photo = photos.get_owned_photo(db, _viewer().user_id, photo_id)
    photos.revoke_share(db, photo, username)
    db.commit()
    flash(f"No longer shared with {username}.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.get("/users/<username>")
@login_required
def profile(username: str) -> Page:
    """A user's profile and public photos."""
    db = request_session()
    user = users.get_user(db, username)
    if ownership.photos_owned_by_service(db):
        remote = _photo_service().public_photos(_token(), username, *_remote_page())
        return render_template("profile.html", user=user, photos=remote.items, next_cursor=remote.next_cursor)
    page = photos.list_public_photos(db, user, _page_request())
    return render_template("profile.html", user=user, photos=page.items, next_cursor=page.next_cursor)


@web.errorhandler(SnappyError)
def snappy_error_page(error: SnappyError) -> Page:
    """Errors inside pages render as pages, not problem documents."""
    return render_error_page(error)


@web.errorhandler(CSRFError)
def csrf_error_page(_error: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token (often: it was open too long)."""
    message = "This form has expired or was not sent by Snappy. Go back, reload and try again."
    return render_template("error.html", status=400, title="Form expired", detail=message), 400


def render_error_page(error: SnappyError) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """An error as an HTML page with its status; a dependency that does not answer, as the degraded page.

    A 503 here means part of Snappy (the database, the object store, a service it calls) did
    not answer: the page is the degraded page web-ui shows when one of its peers is down, so
    a person sees one page for one situation whichever version serves them.
    """
    if error.status == 503:
        # The page asked for, to try again: only a path on this site, as for `next`.
        retry_path = _safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
        page = render_template("degraded.html", status=503, retry_path=retry_path)
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return render_template(
        "error.html", status=error.status, title=error.title, detail=error.detail
    ), error.status


def _photo_service() -> RemotePhotos:
    return components().photo_service()


def _token() -> str:
    """The signed-in visitor's token (a view behind login_required has one)."""
    token = session.get("access_token")
    if not isinstance(token, str):  # login_required guarantees a token; this guards misuse.
        abort(401)
    return token


def _sign_in(user_id: int, username: str) -> None:
    # The account was just read in this request's session: this finds it without a query.
    user = users.get_user_by_id(request_session(), user_id)
    if user is None:  # the callers pass an account they hold; this guards misuse.
        abort(500)
    _keep_token(components().tokens.issue(user_id, username, user.created_at).value)


def _keep_token(token: str) -> None:
    """Start a new session holding `token`: the visitor is signed in."""
    session.clear()
    session["access_token"] = token
    session.permanent = True


def _upload_page(form: dict[str, str], error: str | None, upload_key: str) -> str:
    return render_template("upload.html", form=form, error=error, upload_key=upload_key)


def _new_upload_key() -> str:
    """A fresh key for one rendering of the upload form: a resubmission of it is one upload."""
    return secrets.token_urlsafe(UPLOAD_KEY_BYTES)


def _submitted_upload_key() -> str | None:
    """The upload form's key, checked as the API checks Idempotency-Key; None when the form has none."""
    value = request.form.get(UPLOAD_KEY_FIELD, "").strip()
    return idempotency.idempotency_key(value) if value else None


def _upload_key_after(error: SnappyError, key: str | None) -> str:
    """The key of the form shown again after `error`.

    The same key while its first request is still in flight, so sending the form again
    replays that upload; a fresh one otherwise, as nothing was stored under it (or it is
    spent on another upload, or on a photo deleted since).
    """
    if isinstance(error, IdempotencyKeyInUse) and key is not None:
        return key
    return _new_upload_key()


def _page_request() -> PageRequest:
    limits = components().settings.limits
    try:
        return parse_page_request(
            None, request.args.get("cursor"), limits.default_page_size, limits.max_page_size
        )
    except InvalidParameter:
        return PageRequest(limit=limits.default_page_size)


def _remote_page() -> tuple[int, str | None]:
    """The page size and the cursor to ask photo-service for; a cursor the pages would ignore is dropped."""
    limits = components().settings.limits
    cursor = request.args.get("cursor")
    try:
        parse_page_request(None, cursor, limits.default_page_size, limits.max_page_size)
    except InvalidParameter:
        cursor = None
    return limits.default_page_size, cursor


def _field_messages(error: ValidationFailed) -> dict[str, str]:
    return {item.field: item.message for item in error.errors}


def _safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (the caller's default page).

    Only a path that starts with one `/`, in printable ASCII: no scheme, no authority, no
    backslash, no whitespace or control character, in the target as sent or in any of its
    percent-decodings. Browsers drop tabs and newlines and read `\\` as `/`, so `/<TAB>/evil`
    or `/\\evil` would leave the site; `/%2F%2Fevil` could after one more decoding.
    """
    if not target or len(target) > MAX_NEXT_LENGTH or not target.isascii() or not target.isprintable():
        return None
    decoded = target
    for _ in range(NEXT_DECODING_ROUNDS):
        if not _is_site_path(decoded):
            return None
        once_more = unquote(decoded)
        if once_more == decoded:
            return target
        decoded = once_more
    # Still percent-encoded after that many decodings: no page of Snappy's looks like that.
    return None


def _is_site_path(path: str) -> bool:
    """True for a path with no scheme or authority that no browser reads as another host."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    if any(character.isspace() or not character.isprintable() for character in path):
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def _image(data: bytes, content_type: str) -> Response:
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
