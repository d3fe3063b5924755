"""The WSGI entry point for gunicorn: configure logging, build the app."""

from snappy_monolith.app import create_app
from snappy_monolith.config import Settings
from snappy_monolith.observability import configure_logging

settings = Settings.from_environ()
configure_logging(settings.log_level)
app = create_app(settings)
