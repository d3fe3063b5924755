"""The edge of `snappy up` can be shadowed.

Its control file and records are in the state folder, and the monolith running beside it
can be its candidate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.local_stack import LOCAL_STACK_FILE, read_local_stack
from snappy_devstack.stack import (
    Stack,
    ensure_secrets,
    local_stack_description,
    plan_stacks,
    published_local_stack,
    server_environment,
)
from snappy_topology import PartName

SERVICES = BackingServices(
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    s3=S3Endpoint("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
    source="embedded",
)


def edge_environment(stacks: list[Stack], state_dir: Path) -> dict[str, str]:
    """The environment the microservices' edge of `stacks` would run with."""
    [edge] = [server for stack in stacks for server in stack.servers if server.part.name == PartName.EDGE]
    # An inherited monolith URL never reaches the edge: only the stack's own wiring does.
    base = {"PATH": "/usr/bin", "SNAPPY_MONOLITH_URL": "http://elsewhere:8000"}
    return server_environment(base, edge, services=SERVICES, stack_secrets=ensure_secrets(state_dir))


def test_the_edge_keeps_its_control_file_and_records_in_the_state_folder(tmp_path: Path) -> None:
    stacks = plan_stacks("both", 8123, state_dir=tmp_path)

    environment = edge_environment(stacks, tmp_path)

    assert environment["SNAPPY_EDGE_CONTROL_FILE"] == str(tmp_path / "edge-control.json")
    assert environment["SNAPPY_EDGE_SHADOW_DIR"] == str(tmp_path / "shadow")


def test_beside_the_monolith_the_edge_can_send_it_shadow_copies(tmp_path: Path) -> None:
    monolith, microservices = plan_stacks("both", 8123, state_dir=tmp_path)

    environment = edge_environment([monolith, microservices], tmp_path)

    assert environment["SNAPPY_MONOLITH_URL"] == monolith.entry.url == "http://127.0.0.1:8123"
    # Phase 3 still routes everything to the services.
    assert environment["SNAPPY_EDGE_PHASE"] == "3"


def test_alone_the_microservices_edge_knows_no_monolith(tmp_path: Path) -> None:
    stacks = plan_stacks("microservices", 8123, state_dir=tmp_path)

    environment = edge_environment(stacks, tmp_path)

    assert "SNAPPY_MONOLITH_URL" not in environment
    assert environment["SNAPPY_EDGE_CONTROL_FILE"] == str(tmp_path / "edge-control.json")


def test_the_stack_description_names_the_edges_files(tmp_path: Path) -> None:
    path = tmp_path / LOCAL_STACK_FILE
    with published_local_stack(path, plan_stacks("both", 8123, state_dir=tmp_path), SERVICES):
        described = read_local_stack(path)

    assert described.edge_control_file == str(tmp_path / "edge-control.json")
    assert described.shadow_dir == str(tmp_path / "shadow")
    assert described.microservices_url == "http://127.0.0.1:8124"


def test_a_description_written_before_the_edges_files_were_recorded_still_reads(tmp_path: Path) -> None:
    description = local_stack_description(plan_stacks("both", 8123), SERVICES)
    assert description is not None
    path = tmp_path / LOCAL_STACK_FILE
    with published_local_stack(path, plan_stacks("both", 8123), SERVICES):
        document = json.loads(path.read_text())
    del document["edge_control_file"], document["shadow_dir"]
    path.write_text(json.dumps(document))

    described = read_local_stack(path)

    assert (described.edge_control_file, described.shadow_dir) == (None, None)
    assert described.endpoints() == description.endpoints()


@pytest.mark.parametrize("choice", ["both", "microservices"])
def test_without_a_state_folder_the_edge_has_no_shadow_files(choice: str, tmp_path: Path) -> None:
    environment = edge_environment(plan_stacks(choice, 8123), tmp_path)

    assert "SNAPPY_EDGE_CONTROL_FILE" not in environment
    assert "SNAPPY_EDGE_SHADOW_DIR" not in environment
