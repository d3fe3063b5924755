"""Gunicorn settings: the ones every Snappy service shares (snappy_plumbing.gunicorn_conf)."""

import os

from snappy_plumbing.gunicorn_conf import *  # noqa: F403 - gunicorn reads module-level names

# The edge mostly waits on its upstreams: more threads per worker than a service.
threads = int(os.environ.get("SNAPPY_THREADS", "16"))
