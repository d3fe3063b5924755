"""The WSGI entry point of the edge for gunicorn."""

import os

from snappy_edge.app import EdgeSettings, create_app
from snappy_plumbing.observability import configure_logging

configure_logging(os.environ.get("SNAPPY_LOG_LEVEL", "INFO").upper())
app = create_app(EdgeSettings.from_environ())
