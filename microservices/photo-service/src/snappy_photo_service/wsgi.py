"""The WSGI entry point for gunicorn: configure logging, build the app."""

from snappy_photo_service.app import create_app
from snappy_photo_service.config import Settings
from snappy_plumbing.observability import configure_logging

settings = Settings.from_environ()
configure_logging(settings.log_level)
app = create_app(settings)
