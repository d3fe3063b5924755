"""What every service's composition root does alike: the Flask app it starts from, and its components.

A service's `create_app` starts from `create_flask_app`, builds its components (settings,
stores, clients) once, and installs them on the app; request handlers reach them with
`Components.current()` of the service's own subclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from snappy_plumbing.converters import IdConverter

__all__ = ["EXTENSION_KEY", "AppComponents", "create_flask_app"]

EXTENSION_KEY = "snappy.components"
SettingsT = TypeVar("SettingsT")


def create_flask_app(import_name: str, *, max_content_length: int, trusted_proxy_hops: int = 0) -> Flask:
    """A Flask app with its request size limit, the `photo_id` route converter, and its proxies trusted.

    With `trusted_proxy_hops`, the client's address is the entry that many proxies back
    in X-Forwarded-For; entries further left are the client's own claims.
    """
    app = Flask(import_name)
    if trusted_proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxy_hops, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )
    app.config.update(MAX_CONTENT_LENGTH=max_content_length)
    app.url_map.converters["photo_id"] = IdConverter
    return app


@dataclass(frozen=True)
class AppComponents(Generic[SettingsT]):
    """The base of a service's components: its settings, and in a subclass what its request handlers use."""

    settings: SettingsT

    def install(self, app: Flask) -> None:
        """Make these the components of `app`."""
        app.extensions[EXTENSION_KEY] = self

    @classmethod
    def of(cls, app: Flask) -> Self:
        """The components installed on `app`."""
        installed = app.extensions[EXTENSION_KEY]
        if not isinstance(installed, cls):
            raise TypeError(f"{app.name} holds {type(installed).__name__}, not {cls.__name__}")
        return installed

    @classmethod
    def current(cls) -> Self:
        """The components of the application handling the current request."""
        return cls.of(current_app)
