"""web-ui built in process, in front of services that run elsewhere."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask

from snappy_web_ui import create_app
from snappy_web_ui.config import PeerSettings, Settings

__all__ = ["build_web_ui", "web_ui_settings"]


def web_ui_settings(
    user_service_url: str,
    photo_service_url: str,
    secret_key: str,
    read_timeout_seconds: float | None = None,
) -> Settings:
    """Settings of a web-ui in front of these services (optionally with a shorter read timeout)."""
    peers = PeerSettings(user_service_url=user_service_url, photo_service_url=photo_service_url)
    if read_timeout_seconds is not None:
        peers = replace(peers, calls=replace(peers.calls, read_timeout_seconds=read_timeout_seconds))
    return Settings(peers=peers, secret_key=secret_key)


def build_web_ui(settings: Settings) -> Flask:
    """A web-ui app in test mode."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app
