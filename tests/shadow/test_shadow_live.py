"""Shadow traffic through a real edge, as deployed, in front of the live microservices.

The candidate is a second photo-service process, which the edge knows as its monolith (a
part that may serve the photos group; phase 3 sends it nothing else). On the same
database and bucket it answers every read exactly as the primary does; started with a
default page size of one, it answers differently exactly the reads that page by default
over more than one item, and the shadow reports those and no others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from snappy_devstack.cli import main
from snappy_edge.shadow import COMPARISONS_FILE, MISMATCHES_FILE
from tests.shadow.live_workload import LiveShadowedEdge, photo_reads, recorded, send, write_album
from tests.support.live import LiveMicroservices

pytestmark = pytest.mark.live

SpawnCandidate = Callable[[Mapping[str, str]], str]
SpawnEdge = Callable[[str], LiveShadowedEdge]


def shadow_comparisons(edge_url: str) -> dict[str, float]:
    """The edge's comparison counters from its /metrics, by outcome, over all routes."""
    text = httpx.get(f"{edge_url}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "snappy_edge_shadow_comparisons_total":
                outcome = sample.labels["outcome"]
                totals[outcome] = totals.get(outcome, 0.0) + sample.value
    return totals


def test_a_candidate_on_the_same_data_matches_every_read(
    live_microservices: LiveMicroservices,
    spawn_photo_candidate: SpawnCandidate,
    spawn_shadowed_edge: SpawnEdge,
) -> None:
    edge = spawn_shadowed_edge(spawn_photo_candidate({}))
    reads = photo_reads(write_album(live_microservices.edge_url))

    sent = send(edge.url, reads)

    shadowed = {request_id for request_id, read in sent.items() if read.shadowed}
    assert len(shadowed) == len(reads) - 1  # all but the profile, which is not a photo read
    comparisons = recorded(edge.shadow_dir / COMPARISONS_FILE, len(shadowed))
    assert {comparison["request_id"] for comparison in comparisons} == shadowed
    assert {comparison["outcome"] for comparison in comparisons} == {"match"}
    assert {comparison["candidate_status"] for comparison in comparisons} == {200, 401, 404}
    assert not (edge.shadow_dir / MISMATCHES_FILE).exists()
    assert shadow_comparisons(edge.url) == {"match": len(shadowed)}


def test_every_read_a_differing_candidate_answers_otherwise_is_reported(
    live_microservices: LiveMicroservices,
    spawn_photo_candidate: SpawnCandidate,
    spawn_shadowed_edge: SpawnEdge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    edge = spawn_shadowed_edge(spawn_photo_candidate({"SNAPPY_DEFAULT_PAGE_SIZE": "1"}))
    reads = photo_reads(write_album(live_microservices.edge_url))

    sent = send(edge.url, reads)

    shadowed = [request_id for request_id, read in sent.items() if read.shadowed]
    # The two reads that page by default over more than one item: three photos, two public ones.
    expected = {
        request_id: [f"body $.items: {count} items != 1 items", 'body $.next_cursor: null != "<cursor>"']
        for request_id, read in sent.items()
        for name, count in (("the owner's photos, one default page", 3), ("the owner's public photos", 2))
        if read.name == name
    }
    comparisons = recorded(edge.shadow_dir / COMPARISONS_FILE, len(shadowed))
    mismatches = recorded(edge.shadow_dir / MISMATCHES_FILE, len(expected))
    assert {mismatch["request_id"]: mismatch["differences"] for mismatch in mismatches} == expected
    assert {c["request_id"] for c in comparisons if c["outcome"] == "mismatch"} == set(expected)
    assert {c["outcome"] for c in comparisons if c["request_id"] not in expected} == {"match"}
    for mismatch in mismatches:
        primary, candidate = mismatch["answers"]["primary"], mismatch["answers"]["candidate"]
        assert primary["status"] == candidate["status"] == 200
        assert len(json.loads(candidate["body"])["items"]) == 1
    assert shadow_comparisons(edge.url) == {"match": len(shadowed) - 2, "mismatch": 2}

    # The report says the same, and fails the gate.
    edge_files = ["--control-file", str(edge.control_file), "--shadow-dir", str(edge.shadow_dir)]
    status = main(["shadow", "report", *edge_files, "--metrics-url", f"{edge.url}/metrics"])

    assert status == 1
    out = capsys.readouterr().out
    assert f"{len(shadowed)} comparisons in {edge.shadow_dir}/{COMPARISONS_FILE}" in out
    assert (
        f"2 mismatch(es): each with both answers and its differences in {edge.shadow_dir}/{MISMATCHES_FILE}"
        in out
    )
