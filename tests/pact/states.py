"""The provider states web-ui's pacts name, and what each state holds.

The consumer names a state in each interaction; the provider verification sets it up.
"""

from __future__ import annotations

# Every user's password in every state.
PASSWORD = "correct-horse"

NO_USERS = "no users exist"
ALICE_EXISTS = "user alice exists"
ALICE_OWNS_PHOTO = "alice owns photo 1 and user bob exists"
ALICE_SHARES_PHOTO = "alice owns photo 1 shared with bob"
BOB_SHARES_PHOTO = "bob owns public photo 1 shared with alice"
ALICE_UPLOADED_WITH_KEY = "alice uploaded photo 1 with an Idempotency-Key"

# The Idempotency-Key of that state's upload (a PNG of 32x24), and its caption and visibility.
UPLOAD_KEY = "pact-upload-key-0001"
KEYED_UPLOAD_CAPTION = "A red square"
KEYED_UPLOAD_VISIBILITY = "private"
