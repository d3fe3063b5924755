"""The server-rendered pages. They call user-service and photo-service with the user's token.

The pages, forms, flash messages and statuses are the monolith's, and so is the session:
the access token lives in Flask's signed session cookie, so a user signed in on one
version is signed in on the other. Tokens are verified locally against the signer's
cached keys. Every form carries a CSRF token (Flask-WTF). When a service does not
answer, a page says so (503) instead of failing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
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

from snappy_plumbing.errors import (
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
from snappy_plumbing.request_parsing import checked_idempotency_key
from snappy_plumbing.tokens import TokenClaims
from snappy_web_ui.clients import ImageStream, PeerUnavailable, Photo, PhotoPage, User
from snappy_web_ui.components import components

__all__ = ["create_web_blueprint", "render_error_page"]

P = ParamSpec("P")
R = TypeVar("R")
Page = str | Response | WerkzeugResponse | tuple[str, int] | tuple[str, int, dict[str, str]]

# The monolith's message for any log-in that fails, whatever the reason.
WRONG_CREDENTIALS = "The username or password is wrong"
SESSION_EXPIRED = "Your session has expired. Please log in again."
# The monolith lists at most this many shares on a photo's page.
SHARES_SHOWN = 100
# Seconds a browser is told to wait before trying a degraded page again.
RETRY_AFTER_SECONDS = 5

# Random bytes in the upload form's idempotency key (32 URL-safe characters).
UPLOAD_KEY_BYTES = 24
UPLOAD_KEY_FIELD = "idempotency_key"
# A `next` target longer than this is no page of Snappy's: the login page ignores it.
MAX_NEXT_LENGTH = 2048
# Percent-decodings of a `next` target that are checked; one still encoded after them is ignored.
NEXT_DECODING_ROUNDS = 3

web = Blueprint("web", __name__)


@dataclass(frozen=True)
class ShownPhoto(Photo):
    """A photo as the templates show it: with its owner's profile too."""

    owner_profile: User


@dataclass(frozen=True)
class FeedEntry:
    """One item of the feed (the templates read `share.photo`)."""

    photo: ShownPhoto


def create_web_blueprint() -> Blueprint:
    """The blueprint holding every page."""
    return web


def current_viewer() -> TokenClaims | None:
    """The signed-in user, or None; an expired, invalid or revoked token signs the user out."""
    if "viewer" in g:
        viewer: TokenClaims | None = g.viewer
        return viewer
    # Set before any peer is asked: a degraded page rendered from here must not ask again.
    g.viewer = None
    viewer = None
    token = session.get("access_token")
    if isinstance(token, str):
        try:
            viewer = _bound_viewer(token)
        except AuthenticationRequired:
            session.clear()
            flash(SESSION_EXPIRED, "info")
    g.viewer = viewer
    return viewer


def _bound_viewer(token: str) -> TokenClaims:
    """The claims of a valid token that is not revoked and binds an existing account; 401 otherwise.

    The account is the viewer's profile from user-service (cached once known): it must
    have the token's id, username and creation time, as the services require.
    """
    wired = components()
    claims = wired.tokens.verify(token)
    try:
        revoked = wired.tokens.is_revoked(claims.token_id)
    except ServiceUnavailable:
        raise PeerUnavailable("user-service does not answer") from None
    if revoked:
        raise AuthenticationRequired(SESSION_EXPIRED)
    try:
        user = wired.users.user(claims.username, token)
    except NotFound:
        raise AuthenticationRequired(SESSION_EXPIRED) from None
    if not claims.binds(user.id, user.username, user.created_at):
        raise AuthenticationRequired(SESSION_EXPIRED)
    return replace(claims, username=user.username)


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


def _token() -> str:
    _viewer()
    token: str = session["access_token"]
    return token


@web.app_context_processor
def inject_viewer() -> dict[str, object]:
    """Make the signed-in user available to every template."""
    return {"viewer": current_viewer()}


@web.get("/")
def index() -> Page:
    """The feed for a signed-in user; the landing page otherwise."""
    if current_viewer() is None:
        return render_template("landing.html")
    page = _photo_page(lambda cursor: components().photos.feed(_token(), _page_size(), cursor))
    shares = [FeedEntry(photo=photo) for photo in _shown(page.items)]
    return render_template("feed.html", shares=shares, next_cursor=page.next_cursor)


@web.route("/signup", methods=["GET", "POST"])
def signup() -> Page:
    """Create an account, then sign in."""
    if request.method == "GET":
        return render_template("signup.html", form={}, errors={})
    form = {name: request.form.get(name, "") for name in ("username", "display_name")}
    password = request.form.get("password", "")
    users = components().users
    try:
        user = users.sign_up(form["username"], password, form["display_name"])
    except PeerUnavailable:
        raise
    except ValidationFailed as error:
        return render_template("signup.html", form=form, errors=_field_messages(error)), 422
    except SnappyError as error:
        return render_template("signup.html", form=form, errors={"username": error.detail}), error.status
    _sign_in(users.log_in(user.username, password, request.remote_addr))
    flash(f"Welcome to Snappy, {user.display_name}!", "success")
    return redirect(url_for("web.index"))


@web.route("/login", methods=["GET", "POST"])
def login() -> Page:
    """Exchange a username and password for a session."""
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", username="", next_page=next_page, error=None)
    username = request.form.get("username", "")
    try:
        token = components().users.log_in(username, request.form.get("password", ""), request.remote_addr)
    except PeerUnavailable:
        raise
    except TooManyAttempts as blocked:
        page = render_template("login.html", username=username, next_page=next_page, error=blocked.detail)
        return page, 429, {"Retry-After": str(blocked.retry_after_seconds)}
    except ValidationFailed:
        # The API refuses empty or overlong credentials outright; the monolith's page just
        # finds them wrong, like any other.
        error: SnappyError = InvalidCredentials(WRONG_CREDENTIALS)
        return _login_failed(username, next_page, error)
    except SnappyError as error:
        return _login_failed(username, next_page, error)
    _sign_in(token)
    return redirect(next_page or url_for("web.index"))


@web.post("/logout")
def logout() -> WerkzeugResponse:
    """Revoke the session's token at user-service, then forget the session: a replayed cookie opens nothing.

    When user-service does not answer, the page degrades (503) and the session stays, so
    the log-out can be tried again; it is never reported done while the token still works.
    """
    token = session.get("access_token")
    if isinstance(token, str):
        # A token that opens nothing already needs no revoking.
        with suppress(AuthenticationRequired):
            components().users.log_out(token)
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("web.index"))


@web.get("/photos")
@login_required
def my_photos() -> Page:
    """The signed-in user's photos."""
    page = _photo_page(lambda cursor: components().photos.own_photos(_token(), _page_size(), cursor))
    return render_template("my_photos.html", photos=_shown(page.items), next_cursor=page.next_cursor)


@web.route("/upload", methods=["GET", "POST"])
@login_required
def upload() -> Page:
    """Upload a photo, at most once per rendering of the form (its hidden idempotency key)."""
    if request.method == "GET":
        return _upload_page({}, None, _new_upload_key())
    form = {name: request.form.get(name, "") for name in ("caption", "visibility")}
    upload_file = request.files.get("file")
    max_bytes = components().settings.max_upload_bytes
    try:
        key = _submitted_upload_key()
    except SnappyError as error:
        return _upload_page(form, error.detail, _new_upload_key()), error.status
    if upload_file is None or not upload_file.filename:
        return _upload_page(form, "Choose an image to upload.", _new_upload_key()), 400
    data = upload_file.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        message = f"The file is larger than {max_bytes // (1024 * 1024)} MiB."
        return _upload_page(form, message, _new_upload_key()), 413
    try:
        # Sent as Idempotency-Key: photo-service replays a photo the form already made.
        photo = components().photos.upload(
            _token(),
            data=data,
            filename=upload_file.filename,
            caption=form["caption"],
            visibility=form["visibility"] or "private",
            idempotency_key=key,
        )
    except PeerUnavailable:
        raise
    except SnappyError as error:
        return _upload_page(form, error.detail, _upload_key_after(error, key)), error.status
    flash("Photo uploaded.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo.id))


@web.get("/photos/<photo_id:photo_id>")
@login_required
def photo_detail(photo_id: int) -> Page:
    """A photo, with the owner's share, edit and delete forms."""
    photos = components().photos
    photo = photos.photo(_token(), photo_id)
    is_owner = photo.owner == _viewer().username
    shares = photos.shares(_token(), photo_id, SHARES_SHOWN) if is_owner else []
    shown = _shown([photo])
    if not shown:
        raise NotFound(f"No photo {photo_id}")
    return render_template("photo.html", photo=shown[0], is_owner=is_owner, shares=shares)


@web.get("/photos/<photo_id:photo_id>/image")
@login_required
def photo_image(photo_id: int) -> Response:
    """The image bytes for pages, under the same visibility rule as the API."""
    return _image(components().photos.content(_token(), photo_id))


@web.get("/photos/<photo_id:photo_id>/thumb")
@login_required
def photo_thumbnail(photo_id: int) -> Response:
    """The thumbnail bytes for pages."""
    return _image(components().photos.thumbnail(_token(), photo_id))


@web.post("/photos/<photo_id:photo_id>/edit")
@login_required
def edit_photo(photo_id: int) -> Page:
    """Change caption and visibility."""
    photos = components().photos
    changes = {name: request.form[name] for name in ("caption", "visibility") if name in request.form}
    if not changes:
        # Nothing to change: the monolith still checks that the photo is the viewer's.
        if photos.photo(_token(), photo_id).owner != _viewer().username:
            raise NotFound(f"No photo {photo_id}")
    else:
        try:
            photos.update(_token(), photo_id, changes)
        except ValidationFailed as error:
            flash(error.detail, "error")
            return redirect(url_for("web.photo_detail", photo_id=photo_id))
    flash("Photo updated.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.post("/photos/<photo_id:photo_id>/delete")
@login_required
def delete_photo(photo_id: int) -> WerkzeugResponse:
    """Delete the photo and its objects."""
    components().photos.delete(_token(), photo_id)
    flash("Photo deleted.", "success")
    return redirect(url_for("web.my_photos"))


@web.post("/photos/<photo_id:photo_id>/shares")
@login_required
def share_photo(photo_id: int) -> WerkzeugResponse:
    """Share with a username."""
    username = request.form.get("username", "").strip()
    try:
        components().photos.share(_token(), photo_id, username)
    except (NotFound, PeerUnavailable):
        # NotFound names the photo (not the viewer's): an error page, as in the monolith.
        raise
    except SnappyError as error:
        flash(error.detail, "error")
        return redirect(url_for("web.photo_detail", photo_id=photo_id))
    flash(f"Shared with {username}.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.post("/photos/<photo_id:photo_id>/shares/<username>/revoke")
@login_required
def revoke_share(photo_id: int, username: str) -> WerkzeugResponse:
    """Stop sharing with a username."""
    components().photos.revoke(_token(), photo_id, username)
    flash(f"No longer shared with {username}.", "success")
    return redirect(url_for("web.photo_detail", photo_id=photo_id))


@web.get("/users/<username>")
@login_required
def profile(username: str) -> Page:
    """A user's profile and public photos."""
    user = components().users.user(username, _token())
    page = _photo_page(
        lambda cursor: components().photos.public_photos(_token(), username, _page_size(), cursor)
    )
    return render_template("profile.html", user=user, photos=_shown(page.items), next_cursor=page.next_cursor)


@web.errorhandler(SnappyError)
def snappy_error_page(error: SnappyError) -> Page:
    """Errors inside pages render as pages, not problem documents."""
    if isinstance(error, AuthenticationRequired):
        # A service refused the token (it expired during the request): sign in again.
        session.clear()
        flash(SESSION_EXPIRED, "info")
        # Only a page can be come back to; a form's address answers POST alone.
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("web.login", next=back))
    return render_error_page(error)


@web.errorhandler(CSRFError)
def csrf_error_page(_error: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token (often: it was open too long)."""
    message = "This form has expired or was not sent by Snappy. Go back, reload and try again."
    return render_template("error.html", status=400, title="Form expired", detail=message), 400


def render_error_page(error: SnappyError) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """An error as an HTML page with its status; a service that does not answer, as a degraded page."""
    if isinstance(error, PeerUnavailable):
        # The page asked for, to try again: only a path on this site, as for `next`.
        retry_path = _safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
        page = render_template("degraded.html", status=503, retry_path=retry_path)
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return render_template(
        "error.html", status=error.status, title=error.title, detail=error.detail
    ), error.status


def _sign_in(token: str) -> None:
    session.clear()
    session["access_token"] = token
    session.permanent = True


def _login_failed(username: str, next_page: str | None, error: SnappyError) -> tuple[str, int]:
    page = render_template("login.html", username=username, next_page=next_page, error=error.detail)
    return page, 401


def _upload_page(form: dict[str, str], error: str | None, upload_key: str) -> str:
    return render_template("upload.html", form=form, error=error, upload_key=upload_key)


def _new_upload_key() -> str:
    """A fresh key for one rendering of the upload form: a resubmission of it is one upload."""
    return secrets.token_urlsafe(UPLOAD_KEY_BYTES)


def _submitted_upload_key() -> str | None:
    """The upload form's key, checked as photo-service checks Idempotency-Key; None when the form has none.

    Checked here, before it becomes a header: a value that is no valid header must get
    the monolith's 400, not fail on the way out.
    """
    value = request.form.get(UPLOAD_KEY_FIELD, "").strip()
    return checked_idempotency_key(value) if value else None


def _upload_key_after(error: SnappyError, key: str | None) -> str:
    """The key of the form shown again after `error`.

    The same key while its first request is still in flight, so sending the form again
    replays that upload; a fresh one otherwise, as nothing was stored under it (or it is
    spent on another upload, or on a photo deleted since).
    """
    if isinstance(error, IdempotencyKeyInUse) and key is not None:
        return key
    return _new_upload_key()


def _page_size() -> int:
    return components().settings.page_size


def _photo_page(fetch: Callable[[str | None], PhotoPage]) -> PhotoPage:
    """A page from the cursor in the address; a cursor the service refuses means the first page."""
    cursor = request.args.get("cursor")
    if cursor is None:
        return fetch(None)
    try:
        return fetch(cursor)
    except InvalidParameter:
        return fetch(None)


def _shown(photos: list[Photo]) -> list[ShownPhoto]:
    """The photos with their owners' profiles; a photo whose owner is gone is left out."""
    owners = components().users.users({photo.owner for photo in photos}, _token())
    return [
        ShownPhoto(**asdict(photo), owner_profile=owners[photo.owner])
        for photo in photos
        if photo.owner in owners
    ]


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


def _image(stream: ImageStream) -> Response:
    response = Response(stream.chunks(), content_type=stream.content_type, direct_passthrough=True)
    if stream.content_length is not None:
        response.headers["Content-Length"] = stream.content_length
    response.headers["Cache-Control"] = "private, max-age=60"
    response.call_on_close(stream.close)
    return response
