"""What the web-ui pacts share between the consumer side and the provider side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snappy_topology import PartName

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent.parent
PACT_DIRECTORY = REPOSITORY_ROOT / "shared_contracts" / "pacts"
# The parties, as the topology names them.
CONSUMER = PartName.WEB_UI
PASSWORD = "correct-horse"

# Provider states: the consumer names them, each provider knows how to set them up.
NO_USERS = "no users exist"
ALICE_EXISTS = "user alice exists"
ALICE_OWNS_PHOTO = "alice owns photo 1 and user bob exists"
ALICE_SHARES_PHOTO = "alice owns photo 1 shared with bob"
BOB_SHARES_PHOTO = "bob owns public photo 1 shared with alice"
ALICE_UPLOADED_WITH_KEY = "alice uploaded photo 1 with an Idempotency-Key"

# The Idempotency-Key of that state's upload, and the request it made (PNG 32x24, as below).
UPLOAD_KEY = "pact-upload-key-0001"
KEYED_UPLOAD_CAPTION = "A red square"
KEYED_UPLOAD_VISIBILITY = "private"


def pact_file(provider: PartName) -> Path:
    """The committed pact between web-ui and `provider`."""
    return PACT_DIRECTORY / f"{CONSUMER}-{provider}.json"


def normalised_pact(text: str) -> str:
    """The pact with its interactions and keys in a fixed order, so rewriting it changes nothing."""
    document: dict[str, Any] = json.loads(text)
    document["interactions"] = sorted(
        document.get("interactions", []),
        key=lambda interaction: (
            interaction.get("description", ""),
            [state.get("name", "") for state in interaction.get("providerStates", [])],
        ),
    )
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
