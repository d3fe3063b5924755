"""The WSGI entry point for gunicorn: configure logging, build the app."""

from snappy_plumbing.observability import configure_logging
from snappy_web_ui.app import create_app
from snappy_web_ui.config import Settings

settings = Settings.from_environ()
configure_logging(settings.log_level)
app = create_app(settings)
