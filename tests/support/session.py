"""What every stack of one test session shares: a tag for its stores, a signing key, a session secret."""

from __future__ import annotations

import secrets
from pathlib import Path

from snappy_monolith.tokens import generate_private_key_pem

__all__ = ["REPOSITORY_ROOT", "SESSION_SECRET", "SESSION_TAG", "SIGNING_KEY_PEM"]

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# In the name of every database and bucket the session creates, so sessions never collide.
SESSION_TAG = secrets.token_hex(4)
# One signing key for every stack of the session: tokens pass between versions, as in production.
SIGNING_KEY_PEM = generate_private_key_pem()
# One session-cookie secret too: a browser session passes between the versions.
SESSION_SECRET = secrets.token_urlsafe(32)
