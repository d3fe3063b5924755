"""The application factory: the composition root that wires every component."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.routing import BaseConverter

from snappy_photo_service.api import create_api_blueprint
from snappy_photo_service.components import EXTENSION_KEY, Components
from snappy_photo_service.config import Settings
from snappy_photo_service.dependencies import dependency_unavailable
from snappy_photo_service.storage import ObjectStorage
from snappy_photo_service.user_directory import UserDirectory
from snappy_plumbing.database import Database, install_request_sessions
from snappy_plumbing.errors import register_error_handlers
from snappy_plumbing.jwks import JwksKeySet
from snappy_plumbing.observability import install_observability
from snappy_plumbing.revocation import RevocationList
from snappy_plumbing.security_headers import install_security_headers
from snappy_plumbing.tokens import TokenVerifier

__all__ = ["create_app"]

# Multipart framing (boundaries, part headers, caption) on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
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


def revocation_list(settings: Settings) -> RevocationList:
    """The revoked tokens, from user-service, with the directory's timeouts and retries."""
    peer = settings.user_service
    return RevocationList(
        peer.url,
        ttl_seconds=settings.tokens.revocation_ttl_seconds,
        max_staleness_seconds=settings.tokens.revocation_max_staleness_seconds,
        connect_timeout_seconds=peer.connect_timeout_seconds,
        read_timeout_seconds=peer.read_timeout_seconds,
        attempts=peer.attempts,
        backoff_seconds=peer.backoff_seconds,
    )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the photo service from `settings` (the environment when omitted)."""
    settings = settings or Settings.from_environ()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.limits.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["photo_id"] = PhotoIdConverter

    database = Database(settings.database_url, settings.database)
    storage = ObjectStorage(settings.s3)
    keys = JwksKeySet(
        settings.jwks_url,
        ttl_seconds=settings.tokens.jwks_ttl_seconds,
        min_refresh_seconds=settings.tokens.jwks_min_refresh_seconds,
        timeout_seconds=settings.tokens.jwks_timeout_seconds,
    )
    # Best effort: without the keys now, readiness and the first request with a token retry.
    if not keys.prefetch():
        logger.warning("token keys not available at start-up", extra={"jwks_url": settings.jwks_url})
    app.extensions[EXTENSION_KEY] = Components(
        settings=settings,
        database=database,
        storage=storage,
        tokens=TokenVerifier(keys, settings.tokens.issuer, settings.tokens.audience),
        users=UserDirectory(settings.user_service),
        revocations=revocation_list(settings),
    )
    install_request_sessions(app, database)

    register_error_handlers(app, dependency_unavailable=dependency_unavailable)
    # user-service is a readiness dependency only until its token keys are known once: after
    # that, tokens verify from the cached keys and most requests work without it.
    install_observability(
        app,
        readiness_checks={
            "database": database.ping,
            "object store": storage.ping,
            "token keys": keys.require_keys,
        },
    )
    install_security_headers(app, strict_transport=False)  # no pages: `nosniff` on the API
    app.register_blueprint(create_api_blueprint())
    return app
