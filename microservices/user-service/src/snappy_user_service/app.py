"""The application factory: the composition root that wires every component."""

from __future__ import annotations

from flask import Flask

from snappy_plumbing.access_tokens import JWKS_PATH
from snappy_plumbing.components import create_flask_app
from snappy_plumbing.database import Database, install_request_sessions, is_database_unavailable
from snappy_plumbing.errors import register_error_handlers
from snappy_plumbing.observability import install_observability
from snappy_plumbing.security_headers import install_security_headers
from snappy_plumbing.tokens import TokenSigner, TokenVerifier
from snappy_user_service.api import create_api_blueprint, create_internal_blueprint
from snappy_user_service.components import Components, components
from snappy_user_service.config import Settings
from snappy_user_service.passwords import PASSWORD_CHECKS

__all__ = ["MAX_REQUEST_BYTES", "create_app"]

# The monolith's request limit with its default upload size (10 MiB plus multipart
# framing), so that an oversized body gets the same 413 from either version.
MAX_REQUEST_BYTES = 10 * 1024 * 1024 + 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build user-service from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    # The log-in throttle counts by the client's address, which the trusted proxies name.
    app = create_flask_app(
        __name__, max_content_length=MAX_REQUEST_BYTES, trusted_proxy_hops=settings.trusted_proxy_hops
    )
    app.config.update(JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    tokens = settings.tokens
    signer = TokenSigner(tokens.private_key_pem, tokens.issuer, tokens.audience, tokens.ttl_seconds)
    database = Database(settings.database_url, settings.database)
    Components(
        settings=settings,
        database=database,
        signer=signer,
        verifier=TokenVerifier(signer, tokens.issuer, tokens.audience),
    ).install(app)
    install_request_sessions(app, database)

    register_error_handlers(app, dependency_unavailable=is_database_unavailable)
    install_observability(app, readiness_checks={"database": database.ping})
    app.extensions["snappy.metrics"].registry.register(PASSWORD_CHECKS)
    install_security_headers(app, strict_transport=False)  # no pages: `nosniff` on the API
    app.register_blueprint(create_api_blueprint())
    app.register_blueprint(create_internal_blueprint())

    @app.get(JWKS_PATH)
    def jwks() -> dict[str, object]:
        """The public keys that verify Snappy access tokens."""
        return components().signer.jwks()

    return app
