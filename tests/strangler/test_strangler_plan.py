"""What `snappy up --stack strangler --phase N` plans: each phase's parts, their wiring, its description."""

from __future__ import annotations

from pathlib import Path

import pytest

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.local_stack import read_local_stack
from snappy_devstack.stack import StackError, plan_stacks, published_local_stack, strangler_parts
from snappy_edge.routing import PHASES
from snappy_topology import EDGE_PHASE, PartName, url_setting

SERVICES = BackingServices(
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    s3=S3Endpoint("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
    source="test",
)
MONOLITH, USERS, PHOTOS, WEB_UI, EDGE = (
    PartName.MONOLITH,
    PartName.USER_SERVICE,
    PartName.PHOTO_SERVICE,
    PartName.WEB_UI,
    PartName.EDGE,
)


@pytest.mark.parametrize(
    ("phase", "parts"),
    [
        (0, (USERS, PHOTOS, WEB_UI, MONOLITH)),
        (1, (USERS, PHOTOS, WEB_UI, MONOLITH)),
        (2, (USERS, PHOTOS, WEB_UI, MONOLITH)),
        (3, (USERS, PHOTOS, WEB_UI, MONOLITH)),
        (4, (USERS, PHOTOS, WEB_UI)),
    ],
)
def test_each_phase_runs_what_it_and_the_later_phases_route_to_and_what_those_call(
    phase: int, parts: tuple[PartName, ...]
) -> None:
    assert strangler_parts(phase) == parts
    (stack,) = plan_stacks("strangler", 8123, phase=phase)
    assert [server.part.name for server in stack.servers] == [*parts, EDGE]
    # Every part a route group goes to in this phase and the later ones (cutovers') is there.
    assert {name for later in range(phase, 5) for name in PHASES[later].values()} - {MONOLITH} <= set(parts)
    edge = stack.entry
    assert edge.port == 8123
    assert edge.settings[EDGE_PHASE] == str(phase)
    assert set(edge.peers) == set(parts)
    assert len({server.port for server in stack.servers}) == len(stack.servers)


def test_the_monolith_calls_the_services_that_own_its_data_in_the_phase() -> None:
    peers = {
        phase: dict(next(server for server in stack.servers if server.part.name is MONOLITH).peers)
        for phase in (0, 1, 2, 3)
        for (stack,) in [plan_stacks("strangler", 8123, phase=phase)]
    }
    # Those of the later phases too, for live cutovers: its database says when to call them.
    assert set(peers[0]) == set(peers[1]) == set(peers[2]) == set(peers[3]) == {USERS, PHOTOS}


def test_the_description_names_the_phase_the_edge_and_every_part(tmp_path: Path) -> None:
    stacks = plan_stacks("strangler", 8123, phase=1, state_dir=tmp_path)
    with published_local_stack(tmp_path / "stack.json", stacks, SERVICES) as description:
        assert description is not None
        assert read_local_stack(tmp_path / "stack.json") == description
    assert description.strangler_phase == 1
    assert description.strangler_url == "http://127.0.0.1:8123"
    assert description.part_urls is not None
    assert set(description.part_urls) == {"user-service", "photo-service", "web-ui", "monolith", "edge"}
    assert description.photo_service_database_url.endswith("/snappy_photos")
    assert description.edge_control_file == str(tmp_path / "edge-control.json")
    monolith = next(server for server in stacks[0].servers if server.part.name is MONOLITH)
    assert description.monolith_url == monolith.url
    assert url_setting(USERS) == "SNAPPY_USER_SERVICE_URL"


def test_a_phase_is_the_strangler_stacks_alone_and_one_of_the_routing_tables() -> None:
    with pytest.raises(StackError, match="--phase is the strangler stack's"):
        plan_stacks("both", 8123, phase=1)
    with pytest.raises(StackError, match="unknown phase 5"):
        plan_stacks("strangler", 8123, phase=5)
    (default,) = plan_stacks("strangler", 8123)
    assert default.phase == 0
