"""The application factory: the composition root that wires every component."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from snappy_plumbing.access_tokens import check_tokens
from snappy_plumbing.components import create_flask_app
from snappy_plumbing.errors import register_error_handlers
from snappy_plumbing.observability import install_observability
from snappy_plumbing.security_headers import install_security_headers
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.components import Components
from snappy_web_ui.config import Settings
from snappy_web_ui.web import create_web_blueprint, render_error_page

__all__ = ["MULTIPART_OVERHEAD_BYTES", "SESSION_COOKIE_NAME", "create_app"]

# Multipart framing (boundaries, part headers, caption) on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The monolith's cookie: same name, secret and content, so a session survives the migration.
SESSION_COOKIE_NAME = "snappy_session"


def create_app(settings: Settings | None = None) -> Flask:
    """Build web-ui from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    app = create_flask_app(
        __name__,
        max_content_length=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        trusted_proxy_hops=settings.trusted_proxy_hops,
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.tokens.ttl_seconds),
        WTF_CSRF_TIME_LIMIT=None,  # the token is bound to the session, which expires anyway
    )

    peers = settings.peers
    tokens = check_tokens(
        settings.tokens,
        peers.user_service_url,
        peers.calls,
        # A refresh happens inside a page request, and the document is tiny: a short limit
        # keeps a slow signer from holding pages up (the known keys keep working meanwhile).
        jwks_timeout_seconds=peers.calls.connect_timeout_seconds,
    )
    Components(
        settings=settings,
        tokens=tokens,
        users=UserServiceClient(peers),
        photos=PhotoServiceClient(peers),
    ).install(app)

    register_error_handlers(app, html_page=render_error_page)
    # Peers being down does not make web-ui unready (a degraded page beats no page); only
    # never having had the token signer's keys does, since no signed-in page can work then.
    install_observability(app, readiness_checks={"signing keys": tokens.require_keys})
    # HSTS only where the session cookie is Secure, that is where the site is HTTPS-only.
    install_security_headers(app, strict_transport=settings.session_cookie_secure)
    CSRFProtect(app)
    app.register_blueprint(create_web_blueprint())
    return app
