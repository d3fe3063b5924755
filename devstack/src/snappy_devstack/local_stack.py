"""The stack description `snappy up` writes, so `snappy migrate` finds the stores with no options.

The side-by-side stacks (`--stack both`) and the strangler stack write one; the strangler
stack's also says its phase, its edge and where each of its parts answers.

`snappy up` writes `stack.json` into its state folder (`.snappy/` in the repository) once its
stacks are up, and removes it when it stops. It holds the backing services' URLs and
credentials: the folder is the developer's own, and the file is readable by them alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from snappy_migration.errors import MigrationError
from snappy_migration.stores import Endpoints, ObjectStore
from snappy_topology import PartName

__all__ = ["LOCAL_STACK_FILE", "LocalStack", "read_local_stack", "remove_local_stack", "write_local_stack"]

LOCAL_STACK_FILE = "stack.json"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class LocalStack:
    """Where a local side-by-side stack keeps its data, and where its two versions answer."""

    monolith_database_url: str
    user_service_database_url: str
    photo_service_database_url: str
    object_store: ObjectStore
    monolith_bucket: str
    photo_service_bucket: str
    monolith_url: str | None = None
    microservices_url: str | None = None
    # The microservices' edge: its live control file and where it records shadow comparisons
    # (`snappy shadow`); absent from files written before they were recorded.
    edge_control_file: str | None = None
    shadow_dir: str | None = None
    # Gunicorn worker processes of the monolith and of each service (SNAPPY_WORKERS), so a
    # benchmark can say what it measured; absent from files written before it was recorded.
    workers: int | None = None
    # The strangler stack (`snappy up --stack strangler`): the phase it started in, its edge,
    # and where each of its parts answers (by part name); `snappy phase` and `snappy cutover`
    # find it here. Absent for the other stacks and from files written before.
    strangler_phase: int | None = None
    strangler_url: str | None = None
    part_urls: dict[str, str] | None = None

    def endpoints(self) -> Endpoints:
        """The migration's endpoints on this stack: the monolith's data into the microservices'."""
        return Endpoints(
            source_database_url=self.monolith_database_url,
            target_database_urls={
                PartName.USER_SERVICE: self.user_service_database_url,
                PartName.PHOTO_SERVICE: self.photo_service_database_url,
            },
            object_store=self.object_store,
            source_bucket=self.monolith_bucket,
            target_bucket=self.photo_service_bucket,
        )


def write_local_stack(path: Path, stack: LocalStack) -> None:
    """Write `stack` to `path`, readable by its owner only (it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": _FORMAT_VERSION, **asdict(stack)}
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
    temporary.replace(path)


def remove_local_stack(path: Path) -> None:
    """Remove the description when the stack stops."""
    path.unlink(missing_ok=True)


def running_local_stack(state_dir: Path, *, how_to_start: str) -> LocalStack:
    """The stack `snappy up` describes in `state_dir`; a MigrationError saying `how_to_start` if none."""
    stack_file = state_dir.absolute() / LOCAL_STACK_FILE
    if not stack_file.exists():
        raise MigrationError(f"no local stack is running ({stack_file} not found): {how_to_start}")
    return read_local_stack(stack_file)


def read_local_stack(path: Path) -> LocalStack:
    """The stack described at `path`; a MigrationError saying how to start one if there is none."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MigrationError(
            f"no local stack is running ({path} not found): start one with `./snappy up --stack both`,"
            " or give the databases and buckets as options (see --help)"
        ) from None
    except (OSError, ValueError) as error:
        raise MigrationError(f"cannot read the local stack description {path}: {error}") from error
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        raise MigrationError(
            f"{path} is not a stack description this version understands; restart `snappy up`"
        )
    try:
        store = ObjectStore(**document["object_store"])
        fields = {name: value for name, value in document.items() if name not in {"version", "object_store"}}
        return LocalStack(object_store=store, **fields)
    except (KeyError, TypeError) as error:
        raise MigrationError(f"{path} is incomplete ({error}); restart `snappy up`") from error
