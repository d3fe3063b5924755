"""The application factory: the composition root that wires every component."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from snappy_monolith.api import create_api_blueprint
from snappy_monolith.components import EXTENSION_KEY, Components
from snappy_monolith.config import Settings
from snappy_monolith.database import Database, close_request_session
from snappy_monolith.dependencies import dependency_unavailable
from snappy_monolith.errors import register_error_handlers
from snappy_monolith.observability import install_observability
from snappy_monolith.passwords import PASSWORD_CHECKS
from snappy_monolith.paths import refuse_ambiguous_paths
from snappy_monolith.photo_catalog import RemotePhotos
from snappy_monolith.security_headers import install_security_headers
from snappy_monolith.storage import ObjectStorage
from snappy_monolith.tokens import TokenAuthority
from snappy_monolith.user_directory import RemoteUsers
from snappy_monolith.web import create_web_blueprint, render_error_page

__all__ = ["create_app"]

# Multipart framing (boundaries, part headers, caption) on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
SESSION_COOKIE_NAME = "snappy_session"
# Photo ids are PostgreSQL bigints.
MAX_PHOTO_ID = 2**63 - 1


def _decimal_range_regex(maximum: int) -> str:
    """A regex matching exactly the decimal numbers 1..`maximum`, without leading zeros."""
    digits = str(maximum)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    # Numbers as long as `maximum`: equal to it up to some digit, then smaller there.
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            alternatives.append(f"{digits[:position]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class PhotoIdConverter(BaseConverter):
    """A positive 64-bit id; anything else is not a route, hence 404."""

    # The range is in the regex rather than checked in `to_python`: a converter that rejects
    # a value makes Werkzeug answer 405 when another method's rule on the path came first.
    regex = _decimal_range_regex(MAX_PHOTO_ID)

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the monolith from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    app = Flask(__name__)
    if settings.trusted_proxy_hops:
        # The client's address (the log-in throttle counts by it) is the entry that many
        # proxies back in X-Forwarded-For; entries further left are the client's own claims.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )
    app.config.update(
        SECRET_KEY=settings.effective_secret_key(),
        MAX_CONTENT_LENGTH=settings.limits.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.tokens.ttl_seconds),
        WTF_CSRF_TIME_LIMIT=None,  # the token is bound to the session, which expires anyway
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["photo_id"] = PhotoIdConverter

    remote_users = None if settings.user_service_url is None else RemoteUsers(settings)
    app.extensions[EXTENSION_KEY] = Components(
        settings=settings,
        database=Database(settings.database_url, settings.database),
        storage=ObjectStorage(settings.s3),
        tokens=TokenAuthority(settings.tokens),
        remote_users=remote_users,
        remote_photos=None
        if settings.photo_service_url is None or remote_users is None
        else RemotePhotos(settings, remote_users),
    )
    app.teardown_appcontext(close_request_session)

    register_error_handlers(app, html_page=render_error_page, dependency_unavailable=dependency_unavailable)
    install_observability(app)
    # After the request id is set, before routing acts: a spelling Werkzeug would route or
    # redirect on is refused first.
    app.before_request(refuse_ambiguous_paths)
    app.extensions["snappy.metrics"].registry.register(PASSWORD_CHECKS)
    # HSTS only where the session cookie is Secure, that is where the site is HTTPS-only.
    install_security_headers(app, strict_transport=settings.session_cookie_secure)

    api = create_api_blueprint()
    csrf = CSRFProtect(app)
    # The API authenticates with bearer tokens, never cookies, so CSRF cannot apply.
    csrf.exempt(api)
    app.register_blueprint(api)
    app.register_blueprint(create_web_blueprint())

    @app.get("/.well-known/jwks.json")
    def jwks() -> dict[str, object]:
        """The public keys that verify Snappy access tokens."""
        return app.extensions[EXTENSION_KEY].tokens.jwks()  # type: ignore[no-any-return]

    return app
