"""The application factory: the composition root that wires every component."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from snappy_plumbing.errors import register_error_handlers
from snappy_plumbing.jwks import JwksKeySet
from snappy_plumbing.observability import install_observability
from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.security_headers import install_security_headers
from snappy_plumbing.tokens import TokenVerifier
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.components import EXTENSION_KEY, Components
from snappy_web_ui.config import Settings
from snappy_web_ui.web import create_web_blueprint, render_error_page

__all__ = ["MULTIPART_OVERHEAD_BYTES", "SESSION_COOKIE_NAME", "create_app"]

# Multipart framing (boundaries, part headers, caption) on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The monolith's cookie: same name, secret and content, so a session survives the migration.
SESSION_COOKIE_NAME = "snappy_session"
# Photo ids are PostgreSQL bigints.
MAX_PHOTO_ID = 2**63 - 1

logger = logging.getLogger(__name__)


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
    """Build web-ui from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    app = Flask(__name__)
    if settings.trusted_proxy_hops:
        # The client's address is the entry that many proxies back in X-Forwarded-For;
        # entries further left are the client's own claims.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.tokens.ttl_seconds),
        WTF_CSRF_TIME_LIMIT=None,  # the token is bound to the session, which expires anyway
    )
    app.url_map.converters["photo_id"] = PhotoIdConverter

    keys = JwksKeySet(
        settings.jwks_url,
        ttl_seconds=settings.tokens.jwks_ttl_seconds,
        min_refresh_seconds=settings.tokens.jwks_min_refresh_seconds,
        # A refresh happens inside a page request, and the document is tiny: a short limit
        # keeps a slow signer from holding pages up (the known keys keep working meanwhile).
        timeout_seconds=settings.peers.connect_timeout_seconds,
    )
    # Best effort: without the keys now, readiness and the first signed-in page fetch them.
    if not keys.prefetch():
        logger.warning("token keys not available at start-up", extra={"jwks_url": settings.jwks_url})
    app.extensions[EXTENSION_KEY] = Components(
        settings=settings,
        verifier=TokenVerifier(keys, settings.tokens.issuer, settings.tokens.audience),
        users=UserServiceClient(settings.peers),
        photos=PhotoServiceClient(settings.peers),
        revocations=RevocationList(
            settings.peers.user_service_url,
            ttl_seconds=settings.tokens.revocation_ttl_seconds,
            max_staleness_seconds=settings.tokens.revocation_max_staleness_seconds,
            connect_timeout_seconds=settings.peers.connect_timeout_seconds,
            read_timeout_seconds=settings.peers.read_timeout_seconds,
            attempts=settings.peers.read_attempts,
            backoff_seconds=settings.peers.backoff_seconds,
        ),
    )

    register_error_handlers(app, html_page=render_error_page)
    # Peers being down does not make web-ui unready (a degraded page beats no page); only
    # never having had the token signer's keys does, since no signed-in page can work then.
    install_observability(app, readiness_checks={"signing keys": keys.require_keys})
    # HSTS only where the session cookie is Secure, that is where the site is HTTPS-only.
    install_security_headers(app, strict_transport=settings.session_cookie_secure)
    CSRFProtect(app)
    app.register_blueprint(create_web_blueprint())
    return app
