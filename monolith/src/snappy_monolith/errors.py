"""Domain errors and their one mapping to `application/problem+json` (RFC 9457).

Hierarchy::

    SnappyError                 base; carries status, problem slug, title, detail
    ├── MalformedRequest        400 malformed-request
    ├── AmbiguousPath           400 ambiguous-path (a request path with more than one reading)
    ├── InvalidParameter        400 invalid-parameter
    ├── AuthenticationRequired  401 authentication-required
    ├── InvalidCredentials      401 invalid-credentials
    ├── NotFound                404 not-found
    ├── UserNotFound            404 user-not-found (a username named in a request body)
    ├── UsernameTaken           409 username-taken
    ├── AlreadyShared           409 already-shared
    ├── IdempotencyKeyInUse     409 idempotency-key-in-use (the same key is still in flight)
    ├── PayloadTooLarge         413 payload-too-large
    ├── UnsupportedMediaType    415 unsupported-media-type
    ├── ValidationFailed        422 validation-failed, with per-field errors
    ├── InvalidImage            422 invalid-image
    ├── ImageTooLarge           422 image-too-large
    ├── IdempotencyKeyReused    422 idempotency-key-reused (the same key, another request)
    ├── TooManyAttempts         429 too-many-attempts (log-in throttled), with Retry-After
    └── ServiceUnavailable      503 service-unavailable, with Retry-After

Services raise these; `register_error_handlers` renders them, and every HTTP error
Werkzeug raises (404 for unknown routes, 405, 413), as problem documents.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from flask import Flask, Response, make_response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

__all__ = [
    "PROBLEM_TYPE_BASE",
    "RETRY_AFTER_SECONDS",
    "AlreadyShared",
    "AmbiguousPath",
    "AuthenticationRequired",
    "FieldError",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "ImageTooLarge",
    "InvalidCredentials",
    "InvalidImage",
    "InvalidParameter",
    "MalformedRequest",
    "MisdirectedRequest",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "SnappyError",
    "TooManyAttempts",
    "UnsupportedMediaType",
    "UserNotFound",
    "UsernameTaken",
    "ValidationFailed",
    "problem_response",
    "register_error_handlers",
]

PROBLEM_TYPE_BASE = "https://snappy.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# What a 503 tells the client to wait before retrying: about how long a dependency takes
# to come back from a restart or a failover.
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


class SnappyError(Exception):
    """Base of every error a client can be told about."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def problem(self) -> dict[str, Any]:
        """The problem document's members for this error."""
        return {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class MalformedRequest(SnappyError):
    status, slug, title = 400, "malformed-request", "Malformed request"


class AmbiguousPath(SnappyError):
    status, slug, title = 400, "ambiguous-path", "Ambiguous request path"


class InvalidParameter(SnappyError):
    status, slug, title = 400, "invalid-parameter", "Invalid query parameter"


class AuthenticationRequired(SnappyError):
    status, slug, title = 401, "authentication-required", "Authentication required"


class InvalidCredentials(SnappyError):
    status, slug, title = 401, "invalid-credentials", "Invalid username or password"


class NotFound(SnappyError):
    status, slug, title = 404, "not-found", "Not found"


class UserNotFound(SnappyError):
    status, slug, title = 404, "user-not-found", "No such user"


class MethodNotAllowed(SnappyError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class UsernameTaken(SnappyError):
    status, slug, title = 409, "username-taken", "Username already taken"


class AlreadyShared(SnappyError):
    status, slug, title = 409, "already-shared", "Photo already shared with this user"


class IdempotencyKeyInUse(SnappyError):
    status, slug, title = 409, "idempotency-key-in-use", "A request with this Idempotency-Key is in progress"


class PayloadTooLarge(SnappyError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(SnappyError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


@dataclass(frozen=True)
class FieldError:
    """One rule one field broke."""

    field: str
    message: str


class ValidationFailed(SnappyError):
    status, slug, title = 422, "validation-failed", "Validation failed"

    def __init__(self, errors: list[FieldError]) -> None:
        summary = "; ".join(f"{error.field}: {error.message}" for error in errors)
        super().__init__(summary)
        self.errors = errors

    def problem(self) -> dict[str, Any]:
        document = super().problem()
        document["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return document


class InvalidImage(SnappyError):
    status, slug, title = 422, "invalid-image", "Invalid image"


class ImageTooLarge(SnappyError):
    status, slug, title = 422, "image-too-large", "Image dimensions too large"


class IdempotencyKeyReused(SnappyError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key already used for another request"


class TooManyAttempts(SnappyError):
    status, slug, title = 429, "too-many-attempts", "Too many attempts"

    def __init__(self, retry_after_seconds: int) -> None:
        unit = "second" if retry_after_seconds == 1 else "seconds"
        super().__init__(f"Too many attempts. Try again in {retry_after_seconds} {unit}.")
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(SnappyError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


class MisdirectedRequest(SnappyError):
    """A route group another part owns in this phase of the migration: the edge sends it there."""

    status, slug, title = 421, "misdirected-request", "Misdirected request"


_WERKZEUG_STATUS_TO_ERROR: dict[int, type[SnappyError]] = {
    400: MalformedRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def problem_response(error: SnappyError, headers: dict[str, str] | None = None) -> Response:
    """Render `error` as a problem+json response for the current request."""
    document = error.problem()
    document["instance"] = _path_reference(request.path)
    response = Response(
        _json_dumps(document), status=error.status, mimetype=PROBLEM_MEDIA_TYPE, headers=headers
    )
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="snappy"'
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    if error.status == 503 and "Retry-After" not in response.headers:
        # Unavailable is temporary by definition: say when trying again makes sense.
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


HtmlErrorPage = Callable[[SnappyError], ResponseReturnValue]
# Tells whether an exception means a dependency is down or too slow (503, not 500).
DependencyFailure = Callable[[BaseException], bool]
UNAVAILABLE_DETAIL = "A service this request needs did not answer in time; try again shortly"


def register_error_handlers(
    app: Flask,
    html_page: HtmlErrorPage | None = None,
    dependency_unavailable: DependencyFailure | None = None,
) -> None:
    """Map every error to a problem document, or to `html_page` for a browser off the API.

    An exception `dependency_unavailable` recognises (a database or object store that is
    down or too slow) becomes 503 service-unavailable with Retry-After.
    """

    def render(error: SnappyError) -> ResponseReturnValue:
        if html_page is not None and _wants_html():
            return html_page(error)
        return problem_response(error)

    @app.errorhandler(SnappyError)
    def handle_snappy_error(error: SnappyError) -> ResponseReturnValue:
        return render(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        error_type = _WERKZEUG_STATUS_TO_ERROR.get(status)
        if error_type is None:
            logger.warning("unmapped HTTP error %s", status)
            response = problem_response(SnappyError(error.description))
            response.status_code = status
            return response
        detail = error.description if status != 404 else "No resource at this address"
        response = make_response(render(error_type(detail)))
        # RFC 9110 section 15.5.6: a 405 names the methods the resource has, page or problem.
        allowed_methods = getattr(error, "valid_methods", None)
        if status == 405 and allowed_methods:
            response.headers["Allow"] = ", ".join(sorted(allowed_methods))
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> ResponseReturnValue:
        if dependency_unavailable is not None and dependency_unavailable(error):
            logger.warning("dependency unavailable", extra={"error": f"{type(error).__name__}: {error}"})
            return render(ServiceUnavailable(UNAVAILABLE_DETAIL))
        logger.exception("unhandled error", exc_info=error)
        return render(SnappyError("The server failed to handle this request"))


_MACHINE_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/.well-known/")


def _wants_html() -> bool:
    # Pages are for browsers; the API and the operational endpoints always speak JSON.
    if request.path.startswith(_MACHINE_PATHS):
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/problem+json"])
    return best == "text/html"


# What RFC 3986 allows unencoded in a path besides the unreserved characters quote() keeps.
_PATH_SAFE_CHARACTERS = "/!$&'()*+,;=:@"


def _path_reference(path: str) -> str:
    # Werkzeug hands over the path percent-decoded; `instance` must be a URI reference again.
    return quote(path, safe=_PATH_SAFE_CHARACTERS)


def _json_dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
