"""Shadow traffic in the edge's app: which reads are copied, how answers compare, what is kept and counted.

The parts are an httpx.MockTransport (tests/shadow/mocked_parts.py); phase 3 routes photos
to photo-service, so the monolith serves as the candidate. Waiting is by events and by the
shadow's own queue, never by the clock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from snappy_edge.shadow import OTHER_ROUTE, JsonLinesFile, route_template
from snappy_topology import PartName, RouteGroupName
from tests.shadow.mocked_parts import (
    PHOTO,
    UPSTREAMS,
    BodyStream,
    MakeEdge,
    MockedParts,
    ShadowedEdge,
    json_answer,
)

PHOTOS = RouteGroupName.PHOTOS
PRIMARY, CANDIDATE = PartName.PHOTO_SERVICE, PartName.MONOLITH
PHOTO_PATH, PHOTO_ROUTE = "/api/v1/photos/7", "/api/v1/photos/{id}"
COMPARISONS = "snappy_edge_shadow_comparisons_total"
DROPS = "snappy_edge_shadow_dropped_total"
# A token as user-service signs them (header, claims, signature), and a session cookie's value.
JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0"
    ".eyJzdWIiOiI0MiIsImV4cCI6MTc5OTk5OTk5OX0"
    ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ieS10aGUta2V5"
)
SESSION_COOKIE = "snappy_session=cookie-value-that-must-stay-secret"
CSRF_TOKEN = "IjdlNTg0ZDIxYzEi.Z0aBcQ.csrf-signature-value"


@pytest.fixture
def shadowed(edge: ShadowedEdge) -> ShadowedEdge:
    """The edge with the photos group shadowed by the monolith."""
    edge.shadow(PHOTOS, CANDIDATE)
    return edge


def read(edge: ShadowedEdge, path: str = PHOTO_PATH, **kwargs: object) -> httpx.Response:
    """GET `path` through the edge and wait for its comparison; the client's answer."""
    response = edge.client.get(path, buffered=True, **kwargs)
    edge.settle()
    return httpx.Response(response.status_code, headers=list(response.headers.items()), content=response.data)


# --- what is compared, and how --------------------------------------------------------------


def test_a_read_answered_alike_by_both_is_a_match(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    response = read(shadowed, headers={"X-Request-ID": "match-1"})

    assert response.json() == PHOTO
    [comparison] = shadowed.comparisons()
    assert comparison["outcome"] == "match"
    assert comparison["request_id"] == "match-1"
    assert (comparison["route"], comparison["primary"], comparison["candidate"]) == (
        PHOTO_ROUTE,
        "photo-service",
        "monolith",
    )
    assert (comparison["primary_status"], comparison["candidate_status"]) == (200, 200)
    assert shadowed.mismatches() == []
    assert shadowed.metric(COMPARISONS, route=PHOTO_ROUTE, outcome="match") == 1
    assert len(parts.received[CANDIDATE]) == 1


def test_values_each_side_generates_are_normalized_before_comparing(
    shadowed: ShadowedEdge, parts: MockedParts
) -> None:
    # Ids, cursors and tokens are each side's own; the normalization of the parity tests hides them.
    page = {"items": [{**PHOTO, "id": 41}, {**PHOTO, "id": 40}], "next_cursor": "djE6NDA"}
    parts.answer(PRIMARY, lambda _request: json_answer(page))
    parts.answer(
        CANDIDATE,
        lambda _request: json_answer(
            {"items": [{**PHOTO, "id": 9}, {**PHOTO, "id": 8}], "next_cursor": "djE6OA"}
        ),
    )

    read(shadowed, "/api/v1/photos?limit=2")

    assert [comparison["outcome"] for comparison in shadowed.comparisons()] == ["match"]


@pytest.mark.parametrize(
    ("candidate_answer", "difference"),
    [
        pytest.param(json_answer(PHOTO, status=404), "status: 200 != 404", id="status"),
        pytest.param(
            json_answer(PHOTO, headers={"Cache-Control": "no-store"}),
            'header cache-control: "private, max-age=60" != "no-store"',
            id="header",
        ),
        pytest.param(
            json_answer({**PHOTO, "caption": "Sunrise"}),
            'body $.caption: "Sunset" != "Sunrise"',
            id="body field",
        ),
        pytest.param(
            json_answer({key: value for key, value in PHOTO.items() if key != "visibility"}),
            'body $.visibility: "public" != (absent)',
            id="missing field",
        ),
    ],
)
def test_each_kind_of_difference_is_reported_with_both_answers(
    shadowed: ShadowedEdge, parts: MockedParts, candidate_answer: httpx.Response, difference: str
) -> None:
    parts.answer(
        PRIMARY, lambda _request: json_answer(PHOTO, headers={"Cache-Control": "private, max-age=60"})
    )
    parts.answer(
        CANDIDATE,
        lambda _request: httpx.Response(
            candidate_answer.status_code,
            headers={"Cache-Control": "private, max-age=60", **candidate_answer.headers},
            stream=BodyStream(candidate_answer.read()),
        ),
    )

    client_answer = read(shadowed, headers={"X-Request-ID": "differs-1"})

    assert (
        client_answer.status_code == 200
    )  # the client gets the primary's answer, whatever the candidate says
    [comparison] = shadowed.comparisons()
    assert (comparison["outcome"], comparison["difference_count"]) == ("mismatch", 1)
    [mismatch] = shadowed.mismatches()
    assert mismatch["request_id"] == "differs-1"
    assert mismatch["differences"] == [difference]
    primary, candidate = mismatch["answers"]["primary"], mismatch["answers"]["candidate"]
    assert (primary["status"], json.loads(primary["body"])) == (200, PHOTO)
    assert primary["headers"] == {"content-type": "application/json", "cache-control": "private, max-age=60"}
    assert candidate["status"] == candidate_answer.status_code
    assert json.loads(candidate["body"]) == json.loads(candidate_answer.content)
    assert shadowed.metric(COMPARISONS, route=PHOTO_ROUTE, outcome="mismatch") == 1


def test_every_difference_of_one_answer_is_listed(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    parts.answer(
        CANDIDATE,
        lambda _request: json_answer(
            {**PHOTO, "caption": "Sunrise", "visibility": "private"}, status=500, headers={"Allow": "GET"}
        ),
    )

    read(shadowed)

    [mismatch] = shadowed.mismatches()
    assert mismatch["differences"] == [
        "status: 200 != 500",
        'header allow: (absent) != "GET"',
        'body $.caption: "Sunset" != "Sunrise"',
        'body $.visibility: "public" != "private"',
    ]


def test_headers_that_are_not_compared_do_not_count(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    parts.answer(
        CANDIDATE,
        lambda _request: json_answer(
            PHOTO,
            headers={"Date": "Mon, 30 Nov 2026 10:00:00 GMT", "Set-Cookie": "a=b", "X-Request-ID": "other"},
        ),
    )

    read(shadowed)

    assert [comparison["outcome"] for comparison in shadowed.comparisons()] == ["match"]


def test_other_bodies_are_compared_byte_for_byte(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    image = bytes(range(256)) * 4
    parts.answer(
        PRIMARY,
        lambda _request: httpx.Response(200, headers={"Content-Type": "image/png"}, stream=BodyStream(image)),
    )
    altered = image[:300] + b"\x00" + image[301:]
    parts.answer(
        CANDIDATE,
        lambda _request: httpx.Response(
            200, headers={"Content-Type": "image/png"}, stream=BodyStream(altered)
        ),
    )

    read(shadowed, "/api/v1/photos/7/content")

    [mismatch] = shadowed.mismatches()
    assert mismatch["route"] == "/api/v1/photos/{id}/content"
    assert mismatch["differences"] == ["body: differs from byte 300 (1024 bytes != 1024 bytes)"]
    # Binary bodies are kept by digest only.
    assert mismatch["answers"]["primary"]["body"] is None
    assert mismatch["answers"]["primary"]["body_length"] == 1024


@pytest.mark.parametrize(("candidate_caption", "mismatches"), [("Sunset", 0), ("Sunrise", 1)])
def test_pages_are_compared_with_their_csrf_tokens_set_aside(
    edge: ShadowedEdge, parts: MockedParts, candidate_caption: str, mismatches: int
) -> None:
    edge.shadow(RouteGroupName.PAGES, CANDIDATE)

    def page(token: str, caption: str) -> httpx.Response:
        html = (
            '<form method="post"><input type="hidden" name="csrf_token" value="'
            + token
            + f'"><input name="caption" value="{caption}"></form>'
        )
        return httpx.Response(
            200, headers={"Content-Type": "text/html; charset=utf-8"}, stream=BodyStream(html.encode())
        )

    parts.answer(PartName.WEB_UI, lambda _request: page("token-of-one-render", "Sunset"))
    parts.answer(CANDIDATE, lambda _request: page("token-of-another-render", candidate_caption))

    read(edge, "/photos/7")

    [comparison] = edge.comparisons()
    assert comparison["outcome"] == ("match" if mismatches == 0 else "mismatch")
    assert len(edge.mismatches()) == mismatches


@pytest.mark.parametrize("candidate_differs", [False, True])
def test_bodies_past_the_cap_are_compared_by_digest_and_length(
    make_edge: MakeEdge, parts: MockedParts, candidate_differs: bool
) -> None:
    edge = make_edge(body_cap_bytes=1024)
    edge.shadow(PHOTOS, CANDIDATE)
    image = bytes(range(256)) * 40
    candidate_image = image + b"!" if candidate_differs else image
    parts.answer(
        PRIMARY,
        lambda _request: httpx.Response(
            200, headers={"Content-Type": "image/jpeg"}, stream=BodyStream(image[:5000], image[5000:])
        ),
    )
    parts.answer(
        CANDIDATE,
        lambda _request: httpx.Response(
            200, headers={"Content-Type": "image/jpeg"}, stream=BodyStream(candidate_image)
        ),
    )

    response = read(edge, "/api/v1/photos/7/content")

    assert response.content == image  # the client gets it all; only the shadow keeps less
    [comparison] = edge.comparisons()
    if candidate_differs:
        [mismatch] = edge.mismatches()
        [difference] = mismatch["differences"]
        assert difference.startswith("body: 10240 bytes, SHA-256 ")
        assert " != 10241 bytes, SHA-256 " in difference
    else:
        assert comparison["outcome"] == "match"


def test_latency_of_both_sides_is_observed_by_route(shadowed: ShadowedEdge) -> None:
    read(shadowed)
    read(shadowed, "/api/v1/feed")

    for side in ("primary", "candidate"):
        for route in (PHOTO_ROUTE, "/api/v1/feed"):
            assert shadowed.metric("snappy_edge_shadow_latency_seconds_count", route=route, side=side) == 1
    [photo, feed] = shadowed.comparisons()
    assert photo["primary_seconds"] >= 0
    assert feed["candidate_seconds"] >= 0


def test_a_head_request_is_compared_too(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    parts.answer(CANDIDATE, lambda _request: json_answer(PHOTO, status=404))

    shadowed.client.head(PHOTO_PATH, buffered=True)
    shadowed.settle()

    [candidate_request] = parts.received[CANDIDATE]
    assert candidate_request.method == "HEAD"
    [mismatch] = shadowed.mismatches()
    assert mismatch["differences"] == ["status: 200 != 404"]


def test_the_candidate_gets_the_same_request(make_edge: MakeEdge, parts: MockedParts) -> None:
    # A candidate behind a path prefix still gets the path and query exactly as sent.
    edge = make_edge(upstreams={**UPSTREAMS, CANDIDATE: "http://monolith.upstream/behind/a/prefix/"})
    edge.shadow(PHOTOS, CANDIDATE)

    response = read(
        edge,
        "/api/v1/users/alice/photos?limit=5&cursor=djE6NDE%3D",
        headers={"Authorization": f"Bearer {JWT}", "Cookie": SESSION_COOKIE, "Accept-Language": "fr"},
    )

    [primary_request] = parts.received[PRIMARY]
    [candidate_request] = parts.received[CANDIDATE]
    assert primary_request.url.raw_path == b"/api/v1/users/alice/photos?limit=5&cursor=djE6NDE%3D"
    assert (
        candidate_request.url.raw_path
        == b"/behind/a/prefix/api/v1/users/alice/photos?limit=5&cursor=djE6NDE%3D"
    )
    assert candidate_request.method == "GET"

    def sent(request: httpx.Request) -> list[tuple[str, str]]:
        return [(name, value) for name, value in request.headers.multi_items() if name != "host"]

    assert sent(candidate_request) == sent(primary_request)
    assert candidate_request.headers["authorization"] == f"Bearer {JWT}"
    assert candidate_request.headers["cookie"] == SESSION_COOKIE
    assert candidate_request.headers["x-request-id"] == response.headers["X-Request-ID"]


# --- what is never shadowed ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_writes_and_other_methods_are_never_shadowed(
    shadowed: ShadowedEdge, parts: MockedParts, method: str
) -> None:
    response = shadowed.client.open(PHOTO_PATH, method=method, json={"caption": "x"}, buffered=True)
    shadowed.settle()

    assert response.status_code == 200
    assert len(parts.received[PRIMARY]) == 1
    assert parts.received[CANDIDATE] == []
    assert shadowed.comparisons() == []


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/.well-known/jwks.json", "/", "/photos/7"])
def test_reads_of_other_groups_are_not_shadowed(
    shadowed: ShadowedEdge, parts: MockedParts, path: str
) -> None:
    read(shadowed, path)

    assert parts.received[CANDIDATE] == []
    assert shadowed.comparisons() == []


def test_a_candidate_that_is_the_primary_is_not_shadowed(edge: ShadowedEdge, parts: MockedParts) -> None:
    edge.shadow(PHOTOS, PRIMARY)

    read(edge)

    assert len(parts.received[PRIMARY]) == 1  # the client's request, and no copy
    assert edge.comparisons() == []


def test_a_get_with_a_body_is_counted_as_a_drop(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    response = shadowed.client.get(PHOTO_PATH, data=b"odd", buffered=True)
    shadowed.settle()

    assert response.status_code == 200
    assert parts.received[CANDIDATE] == []
    assert shadowed.metric(DROPS, route=PHOTO_ROUTE, reason="request_body") == 1


# --- the client never waits for, nor suffers from, the candidate ---------------------------------


def test_a_slow_candidate_does_not_delay_the_client(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    asked, released = threading.Event(), threading.Event()

    def slow_candidate(_request: httpx.Request) -> httpx.Response:
        asked.set()
        released.wait(timeout=30)
        return json_answer(PHOTO)

    parts.answer(CANDIDATE, slow_candidate)

    response = shadowed.client.get(PHOTO_PATH, buffered=True)

    # The client has the whole answer, while the candidate still holds its copy of the request.
    assert response.status_code == 200
    assert response.get_json() == PHOTO
    assert asked.wait(timeout=30)
    assert not released.is_set()
    assert shadowed.comparisons() == []
    released.set()
    shadowed.settle()
    assert [comparison["outcome"] for comparison in shadowed.comparisons()] == ["match"]


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectError("connection refused"), "not answering (ConnectError)"),
        (httpx.ReadTimeout("timed out"), "no answer within 2.0 s"),
        (httpx.RemoteProtocolError("peer closed connection"), "not answering (RemoteProtocolError)"),
    ],
)
def test_a_failing_candidate_is_a_candidate_error_and_the_client_is_unaffected(
    shadowed: ShadowedEdge, parts: MockedParts, failure: httpx.HTTPError, error: str
) -> None:
    def failing_candidate(_request: httpx.Request) -> httpx.Response:
        raise failure

    parts.answer(CANDIDATE, failing_candidate)

    response = read(shadowed)

    assert (response.status_code, response.json()) == (200, PHOTO)
    [comparison] = shadowed.comparisons()
    assert (comparison["outcome"], comparison["error"], comparison["candidate_status"]) == (
        "candidate_error",
        error,
        None,
    )
    assert shadowed.mismatches() == []
    assert shadowed.metric(COMPARISONS, route=PHOTO_ROUTE, outcome="candidate_error") == 1


def test_a_candidate_whose_answer_breaks_off_is_a_candidate_error(
    shadowed: ShadowedEdge, parts: MockedParts
) -> None:
    class BrokenBody(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"id": 7, '
            raise httpx.ReadError("connection reset")

    parts.answer(CANDIDATE, lambda _request: httpx.Response(200, stream=BrokenBody()))

    read(shadowed)

    [comparison] = shadowed.comparisons()
    assert (comparison["outcome"], comparison["error"]) == (
        "candidate_error",
        "the answer broke off (ReadError)",
    )


def test_a_full_queue_drops_the_comparison_and_counts_it(make_edge: MakeEdge, parts: MockedParts) -> None:
    edge = make_edge(queue_size=1, workers=1)
    edge.shadow(PHOTOS, CANDIDATE)
    asked, released = threading.Event(), threading.Event()

    def held_candidate(_request: httpx.Request) -> httpx.Response:
        asked.set()
        released.wait(timeout=30)
        return json_answer(PHOTO)

    parts.answer(CANDIDATE, held_candidate)

    first = edge.client.get(PHOTO_PATH, buffered=True)
    assert asked.wait(timeout=30)  # the only thread holds the first comparison
    second = edge.client.get(PHOTO_PATH, buffered=True)  # waits in the queue, which is now full
    third = edge.client.get(PHOTO_PATH, buffered=True)

    assert [response.status_code for response in (first, second, third)] == [200, 200, 200]
    assert edge.metric(DROPS, route=PHOTO_ROUTE, reason="queue_full") == 1
    released.set()
    edge.settle()
    assert len(edge.comparisons()) == 2


def test_a_candidate_the_edge_has_no_url_for_is_counted_as_a_drop(
    make_edge: MakeEdge, parts: MockedParts
) -> None:
    edge = make_edge(upstreams={part: url for part, url in UPSTREAMS.items() if part != CANDIDATE})
    edge.shadow(PHOTOS, CANDIDATE)

    response = read(edge)

    assert (response.status_code, response.json()) == (200, PHOTO)
    assert edge.metric(DROPS, route=PHOTO_ROUTE, reason="candidate_not_configured") == 1
    assert edge.comparisons() == []


def test_an_answer_the_client_did_not_read_to_its_end_is_not_compared(
    shadowed: ShadowedEdge, parts: MockedParts
) -> None:
    chunk = b"x" * (64 * 1024)
    parts.answer(
        PRIMARY,
        lambda _request: httpx.Response(
            200, headers={"Content-Type": "image/jpeg"}, stream=BodyStream(chunk, chunk, chunk)
        ),
    )

    response = shadowed.client.get("/api/v1/photos/7/content")
    first = next(iter(response.response))
    response.close()  # the client went away after the first chunk
    shadowed.settle()

    assert first == chunk
    assert shadowed.metric(DROPS, route="/api/v1/photos/{id}/content", reason="primary_incomplete") == 1
    assert parts.received[CANDIDATE] == []


# --- what the records keep ------------------------------------------------------------------------


def test_no_token_or_cookie_of_a_json_exchange_reaches_the_records(
    shadowed: ShadowedEdge, parts: MockedParts
) -> None:
    parts.answer(
        PRIMARY,
        lambda _request: json_answer(
            {**PHOTO, "access_token": JWT, "note": f"signed {JWT}"}, headers={"Set-Cookie": SESSION_COOKIE}
        ),
    )
    parts.answer(
        CANDIDATE,
        lambda _request: json_answer(
            {**PHOTO, "access_token": "opaque-candidate-token", "note": "other"},
            headers={"Set-Cookie": SESSION_COOKIE, "WWW-Authenticate": f'Bearer error="{JWT}"'},
        ),
    )

    read(
        shadowed,
        f"/api/v1/photos/7?access_token={JWT}",
        headers={"Authorization": f"Bearer {JWT}", "Cookie": SESSION_COOKIE},
    )

    [mismatch] = shadowed.mismatches()
    assert mismatch["differences"]  # the records were written, with what differs
    records = shadowed.records_text()
    for secret in (JWT, "opaque-candidate-token", "cookie-value-that-must-stay-secret", "Bearer eyJ"):
        assert secret not in records
    assert json.loads(mismatch["answers"]["primary"]["body"])["access_token"] == "<redacted>"
    assert mismatch["path"] == "/api/v1/photos/7?access_token=<redacted>"


def test_no_csrf_token_of_a_page_reaches_the_records(edge: ShadowedEdge, parts: MockedParts) -> None:
    edge.shadow(RouteGroupName.PAGES, CANDIDATE)

    def page(token: str) -> httpx.Response:
        html = (
            '<html><head><meta name="csrf-token" content="' + token + '"></head><body><form method="post">'
            f'<input type="hidden" name="csrf_token" value="{token}"><input name="caption" value="Sunset">'
            "</form></body></html>"
        )
        return httpx.Response(
            200, headers={"Content-Type": "text/html; charset=utf-8"}, stream=BodyStream(html.encode())
        )

    parts.answer(PartName.WEB_UI, lambda _request: page(CSRF_TOKEN))
    parts.answer(CANDIDATE, lambda _request: page("IjAwMDAwMDAwIg.Z0aBcQ.other-signature"))

    read(edge, "/upload")

    [mismatch] = edge.mismatches()
    assert mismatch["route"] == "/upload"
    records = edge.records_text()
    assert CSRF_TOKEN not in records
    assert "other-signature" not in records
    primary_body = mismatch["answers"]["primary"]["body"]
    assert 'name="csrf_token" value="<redacted>"' in primary_body
    assert 'name="caption" value="Sunset"' in primary_body  # other fields are kept


def test_bodies_are_truncated_in_the_records(shadowed: ShadowedEdge, parts: MockedParts) -> None:
    parts.answer(CANDIDATE, lambda _request: json_answer({**PHOTO, "caption": "y" * 10_000}))
    parts.answer(PRIMARY, lambda _request: json_answer({**PHOTO, "caption": "x" * 10_000}))

    read(shadowed)

    [mismatch] = shadowed.mismatches()
    primary = mismatch["answers"]["primary"]
    assert primary["body_truncated"] is True
    assert len(primary["body"]) == 4096
    [difference] = mismatch["differences"]
    assert len(difference) < 500


def test_without_a_records_folder_comparisons_are_only_counted(make_edge: MakeEdge, tmp_path: Path) -> None:
    edge = make_edge(directory=None)
    edge.shadow(PHOTOS, CANDIDATE)

    read(edge)

    assert edge.metric(COMPARISONS, route=PHOTO_ROUTE, outcome="match") == 1
    assert not (tmp_path / "shadow").exists()


def test_lines_written_from_many_threads_never_interleave(tmp_path: Path) -> None:
    records = JsonLinesFile(tmp_path / "records" / "lines.jsonl")
    documents = [
        {"writer": writer, "line": line, "padding": "z" * 20_000} for writer in range(8) for line in range(25)
    ]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(records.append, documents))

    lines = (tmp_path / "records" / "lines.jsonl").read_text(encoding="ascii").splitlines()
    assert sorted((document["writer"], document["line"]) for document in map(json.loads, lines)) == sorted(
        (document["writer"], document["line"]) for document in documents
    )


# --- the live control file -------------------------------------------------------------------------


def test_a_change_of_the_control_file_takes_effect_on_the_next_request(
    edge: ShadowedEdge, parts: MockedParts
) -> None:
    read(edge)
    assert parts.received[CANDIDATE] == []

    edge.shadow(PHOTOS, CANDIDATE)
    read(edge)
    assert len(parts.received[CANDIDATE]) == 1

    edge.stop_shadowing()
    read(edge)
    assert len(parts.received[CANDIDATE]) == 1
    assert len(edge.comparisons()) == 1


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not JSON"),
        pytest.param('{"version": 2, "shadow": null}', id="another version"),
        pytest.param(
            '{"version": 1, "shadow": {"group": "photos, shares, feed", "candidate": "web-ui"}}',
            id="a candidate that cannot serve the group",
        ),
        pytest.param(
            '{"version": 1, "shadow": {"group": "photos", "candidate": "monolith"}}', id="unknown group"
        ),
    ],
)
def test_a_broken_control_file_keeps_the_last_good_state(
    shadowed: ShadowedEdge, parts: MockedParts, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    read(shadowed)

    shadowed.control_file.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="snappy_edge.shadow"):
        read(shadowed)

    assert len(parts.received[CANDIDATE]) == 2
    assert [comparison["outcome"] for comparison in shadowed.comparisons()] == ["match", "match"]
    assert any("the control file is unusable" in record.getMessage() for record in caplog.records)


# --- route templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/v1/photos", "/api/v1/photos"),
        ("/api/v1/photos/123", "/api/v1/photos/{id}"),
        ("/api/v1/photos/abc", "/api/v1/photos/{id}"),
        ("/api/v1/photos/123/content", "/api/v1/photos/{id}/content"),
        ("/api/v1/photos/123/thumbnail", "/api/v1/photos/{id}/thumbnail"),
        ("/api/v1/photos/123/shares/bob", "/api/v1/photos/{id}/shares/{username}"),
        ("/api/v1/users/me", "/api/v1/users/me"),
        ("/api/v1/users/alice", "/api/v1/users/{username}"),
        ("/api/v1/users/alice/photos", "/api/v1/users/{username}/photos"),
        ("/api/v1/feed", "/api/v1/feed"),
        ("/", "/"),
        ("/photos/12/thumb", "/photos/{id}/thumb"),
        ("/users/alice", "/users/{username}"),
        ("/api/v1/photos/1/2/3", OTHER_ROUTE),
        ("/api/v1/feed/", OTHER_ROUTE),
        ("/wp-admin/setup.php", OTHER_ROUTE),
    ],
)
def test_routes_are_labelled_by_their_template(path: str, template: str) -> None:
    assert route_template(path) == template
