"""Security headers: a strict policy on every HTML page, `nosniff` on every response.

Pages (any `text/html` response, error pages included) get a Content-Security-Policy that
allows no inline script or style and nothing from another origin, frame protection, a
referrer policy and, when the session cookie is `Secure` (the site is served over HTTPS
only), Strict-Transport-Security. Every response, JSON API and images included, gets
`X-Content-Type-Options: nosniff`, so a browser never reads one as another type. The
microservices send exactly the same headers (`snappy_plumbing.security_headers`).
"""

from __future__ import annotations

from flask import Flask, Response

__all__ = [
    "PAGE_CONTENT_SECURITY_POLICY",
    "REFERRER_POLICY",
    "STRICT_TRANSPORT_SECURITY",
    "install_security_headers",
    "security_headers",
]

# Scripts and styles come only from the site's own static files: no inline code, no eval, no
# plugins, no <base> rewriting, no framing, and forms post only to the site.
PAGE_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
# Full address to the site itself (a photo page's URL names the photo); only the origin to
# other sites over HTTPS, nothing over HTTP.
REFERRER_POLICY = "strict-origin-when-cross-origin"
# One year; no includeSubDomains or preload: the site does not know its parent domain's hosts.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
HTML_MEDIA_TYPE = "text/html"


def security_headers(mimetype: str | None, strict_transport: bool) -> dict[str, str]:
    """The headers a response of `mimetype` carries; HSTS on pages only when `strict_transport`."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if mimetype == HTML_MEDIA_TYPE:
        headers["Content-Security-Policy"] = PAGE_CONTENT_SECURITY_POLICY
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = REFERRER_POLICY
        if strict_transport:
            headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers


def install_security_headers(app: Flask, *, strict_transport: bool) -> None:
    """Add `security_headers` to every response of `app` that does not set them itself."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in security_headers(response.mimetype, strict_transport).items():
            response.headers.setdefault(name, value)
        return response
