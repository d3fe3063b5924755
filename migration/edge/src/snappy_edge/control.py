"""The edge's live control state: what an operator changes while the edge runs.

One small JSON file holds it (SNAPPY_EDGE_CONTROL_FILE). `snappy shadow start` and
`snappy shadow stop` write it; every process of the edge reads it when it changes, so a
change takes effect without a restart and without dropping a request. On Kubernetes the
same file is a mounted ConfigMap.

    {"version": 1, "phase": 2, "freeze": ["users and tokens"],
     "shadow": {"group": "photos, shares, feed", "candidate": "monolith"}}

`phase` is the routing phase (`snappy_edge.routing.PHASES`); absent or null, the edge
keeps the phase it was started with (SNAPPY_EDGE_PHASE). `snappy phase set` writes it.
`freeze` lists the route groups whose writes are refused for now (503, Retry-After): a
cutover's write freeze (`snappy_edge.routing.groups_written_by` says what a request writes).
`shadow` is absent (or null) when nothing is shadowed. The file is replaced whole (written
beside it, then renamed), so a reader sees the old state or the new one, never half of one.
A missing file is the empty state: the starting phase, nothing frozen, nothing shadowed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snappy_edge.routing import PHASES
from snappy_topology import PARTS, PartName, RouteGroupName

__all__ = [
    "CONTROL_FILE_VARIABLE",
    "ControlFileError",
    "ControlWatcher",
    "EdgeControl",
    "Shadow",
    "read_control",
    "write_control",
]

CONTROL_FILE_VARIABLE = "SNAPPY_EDGE_CONTROL_FILE"
_FORMAT_VERSION = 1


class ControlFileError(ValueError):
    """The control file cannot be read, or says something the edge cannot do."""


@dataclass(frozen=True)
class Shadow:
    """Send a copy of each safe request (GET, HEAD) of `group` to `candidate`, and compare the answers."""

    group: RouteGroupName
    candidate: PartName

    def __post_init__(self) -> None:
        if self.group not in PARTS[self.candidate].serves:
            served = ", ".join(sorted(PARTS[self.candidate].serves)) or "no route group"
            raise ControlFileError(
                f"{self.candidate} cannot be a candidate for {str(self.group)!r}: it serves {served}"
            )


@dataclass(frozen=True)
class EdgeControl:
    """The edge's live state."""

    shadow: Shadow | None = None
    # None: the phase the edge was started with.
    phase: int | None = None
    freeze: frozenset[RouteGroupName] = frozenset()

    def __post_init__(self) -> None:
        if self.phase is not None and self.phase not in PHASES:
            raise ControlFileError(f"'phase' must be one of {sorted(PHASES)}, got {self.phase!r}")

    def phase_or(self, starting_phase: int) -> int:
        """The phase the edge routes by now: this state's, else the one it was started with."""
        return starting_phase if self.phase is None else self.phase

    def to_document(self) -> dict[str, Any]:
        """The JSON document of this state."""
        shadow = (
            None
            if self.shadow is None
            else {"group": str(self.shadow.group), "candidate": str(self.shadow.candidate)}
        )
        return {
            "version": _FORMAT_VERSION,
            "phase": self.phase,
            "freeze": sorted(map(str, self.freeze)),
            "shadow": shadow,
        }

    @classmethod
    def from_document(cls, document: Any) -> EdgeControl:
        """The state a JSON document describes; ControlFileError when it is not one."""
        if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
            raise ControlFileError(f"not an edge control document of version {_FORMAT_VERSION}")
        phase = document.get("phase")
        # bool is an int to Python, never a phase.
        if phase is not None and (not isinstance(phase, int) or isinstance(phase, bool)):
            raise ControlFileError(f"'phase' must be a whole number or null, got {phase!r}")
        freeze = _frozen_groups(document.get("freeze"))
        shadow = document.get("shadow")
        if shadow is None:
            return cls(phase=phase, freeze=freeze)
        if not isinstance(shadow, dict):
            raise ControlFileError("'shadow' must be an object or null")
        try:
            return cls(
                shadow=Shadow(
                    RouteGroupName(str(shadow.get("group"))), PartName(str(shadow.get("candidate")))
                ),
                phase=phase,
                freeze=freeze,
            )
        except ControlFileError:
            raise
        except ValueError as error:
            raise ControlFileError(f"'shadow' names an unknown route group or part: {error}") from None


def _frozen_groups(listed: Any) -> frozenset[RouteGroupName]:
    if listed is None:
        return frozenset()
    if not isinstance(listed, list):
        raise ControlFileError(f"'freeze' must be a list of route groups, got {listed!r}")
    try:
        return frozenset(RouteGroupName(str(name)) for name in listed)
    except ValueError as error:
        raise ControlFileError(f"'freeze' names an unknown route group: {error}") from None


def read_control(path: Path) -> EdgeControl:
    """The state in `path`; the empty state when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return EdgeControl()
    except OSError as error:
        raise ControlFileError(f"cannot read {path}: {error}") from error
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ControlFileError(f"{path} is not JSON: {error}") from None
    return EdgeControl.from_document(document)


def write_control(path: Path, control: EdgeControl) -> None:
    """Replace the state in `path` at once: readers see the old state or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(control.to_document(), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


class ControlWatcher:
    """The state in a file, read again only when the file changes (one stat per call).

    A file that turns unreadable or invalid keeps the last good state: an operator's typo
    must not change what the edge does. `error` says what is wrong until it is fixed.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None
        self._signature: tuple[int, int, int] | None = None
        self._control = EdgeControl()

    def current(self) -> EdgeControl:
        """The state as the file says now."""
        if self.path is None:
            return self._control
        try:
            status = self.path.stat()
            signature = (status.st_mtime_ns, status.st_size, status.st_ino)
        except FileNotFoundError:
            signature = (0, 0, 0)
        except OSError as error:
            self.error = f"cannot stat {self.path}: {error}"
            return self._control
        if signature != self._signature:
            try:
                self._control = read_control(self.path)
                self.error = None
            except ControlFileError as error:
                self.error = str(error)
            self._signature = signature
        return self._control
