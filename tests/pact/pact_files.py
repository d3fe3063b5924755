"""Where web-ui's pacts are committed, and the fixed form they are written in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snappy_topology import PartName

PACT_DIRECTORY = Path(__file__).resolve().parents[2] / "shared_contracts" / "pacts"
# The consumer, as the topology names it.
CONSUMER = PartName.WEB_UI


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
