"""The application factory: the composition root that wires every component."""

from __future__ import annotations

from flask import Flask

from snappy_photo_service.api import create_api_blueprint
from snappy_photo_service.components import Components
from snappy_photo_service.config import Settings
from snappy_photo_service.dependencies import dependency_unavailable
from snappy_photo_service.storage import ObjectStorage
from snappy_photo_service.user_directory import UserDirectory
from snappy_plumbing.access_tokens import check_tokens
from snappy_plumbing.components import create_flask_app
from snappy_plumbing.database import Database, install_request_sessions
from snappy_plumbing.errors import register_error_handlers
from snappy_plumbing.observability import install_observability
from snappy_plumbing.security_headers import install_security_headers

__all__ = ["create_app"]

# Multipart framing (boundaries, part headers, caption) on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The whole wait for the signer's keys: the document is tiny.
JWKS_TIMEOUT_SECONDS = 3.0


def create_app(settings: Settings | None = None) -> Flask:
    """Build the photo service from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    app = create_flask_app(
        __name__, max_content_length=settings.limits.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    )
    app.config.update(JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    database = Database(settings.database_url, settings.database)
    storage = ObjectStorage(settings.s3)
    user_service = settings.user_service
    tokens = check_tokens(
        settings.tokens, user_service.url, user_service.calls, jwks_timeout_seconds=JWKS_TIMEOUT_SECONDS
    )
    Components(
        settings=settings,
        database=database,
        storage=storage,
        tokens=tokens,
        users=UserDirectory(user_service),
    ).install(app)
    install_request_sessions(app, database)

    register_error_handlers(app, dependency_unavailable=dependency_unavailable)
    # user-service is a readiness dependency only until its token keys are known once: after
    # that, tokens verify from the cached keys and most requests work without it.
    install_observability(
        app,
        readiness_checks={
            "database": database.ping,
            "object store": storage.ping,
            "token keys": tokens.require_keys,
        },
    )
    install_security_headers(app, strict_transport=False)  # no pages: `nosniff` on the API
    app.register_blueprint(create_api_blueprint())
    return app
