"""The one rule of calls between services: which failures are sent again, how soon, how long each waits."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask, g

from snappy_plumbing.observability import REQUEST_ID_HEADER
from snappy_plumbing.peers import PeerClient, PeerPolicy, PeerUnavailable
from tests.support.scripted_peer import ScriptedPeer

POLICY = PeerPolicy(read_timeout_seconds=5.0, attempts=3)


def client(peer: ScriptedPeer, policy: PeerPolicy = POLICY) -> PeerClient:
    return PeerClient("a peer", "http://peer.test", policy, sleep=peer.sleep, transport=peer.transport())


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("no connection within the connect timeout"),
        httpx.PoolTimeout("no pooled connection within the connect timeout"),
        httpx.RemoteProtocolError("a pooled connection the peer had closed"),
        httpx.ReadError("reset"),
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
    ],
    ids=lambda failure: (
        type(failure).__name__ if isinstance(failure, Exception) else str(failure.status_code)
    ),
)
def test_a_read_that_failed_fast_is_sent_again(failure: httpx.Response | Exception) -> None:
    peer = ScriptedPeer(failure, httpx.Response(200, json={}))

    response = client(peer).read("GET", "/thing")

    assert response.status_code == 200
    assert len(peer.requests) == 2
    assert peer.sleeps == [POLICY.backoff_seconds]


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("no answer in time"), httpx.WriteTimeout("stalled")])
def test_a_read_that_timed_out_once_connected_is_not_sent_again(failure: Exception) -> None:
    peer = ScriptedPeer(failure, httpx.Response(200, json={}))

    with pytest.raises(PeerUnavailable, match="a peer does not answer"):
        client(peer).read("GET", "/thing")
    assert len(peer.requests) == 1
    assert peer.sleeps == []


def test_a_read_gives_up_after_its_attempts_with_exponential_backoff() -> None:
    peer = ScriptedPeer(httpx.ConnectError("refused"), httpx.Response(502), httpx.Response(503))

    with pytest.raises(PeerUnavailable):
        client(peer).read("GET", "/thing")
    assert len(peer.requests) == POLICY.attempts
    assert peer.sleeps == [0.1, 0.2]


@pytest.mark.parametrize("status", [200, 400, 404, 409, 501])
def test_any_other_answer_is_the_callers_after_one_attempt(status: int) -> None:
    peer = ScriptedPeer(httpx.Response(status), httpx.Response(200))

    assert client(peer).read("POST", "/lookup", json={"ids": [1]}).status_code == status
    assert len(peer.requests) == 1


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_a_write_that_failed_is_not_sent_again(failure: Exception) -> None:
    peer = ScriptedPeer(failure, httpx.Response(201))

    with pytest.raises(PeerUnavailable):
        client(peer).write("POST", "/things", answer_timeout_seconds=20.0, json={})
    assert len(peer.requests) == 1


def test_a_write_answered_not_now_is_not_sent_again_either() -> None:
    peer = ScriptedPeer(httpx.Response(503), httpx.Response(201))

    assert client(peer).write("DELETE", "/things/1", answer_timeout_seconds=20.0).status_code == 503
    assert len(peer.requests) == 1
    assert peer.sleeps == []


def test_a_read_waits_its_timeout_and_a_write_the_one_its_caller_gives() -> None:
    peer = ScriptedPeer(httpx.Response(200), httpx.Response(201))
    calls = client(peer, PeerPolicy(read_timeout_seconds=3.0, attempts=2, connect_timeout_seconds=0.5))

    calls.read("GET", "/thing")
    calls.write("POST", "/things", answer_timeout_seconds=20.0)

    read, write = (request.extensions["timeout"] for request in peer.requests)
    assert read == {"connect": 0.5, "read": 3.0, "write": 3.0, "pool": 0.5}
    assert write == {"connect": 0.5, "read": 20.0, "write": 20.0, "pool": 0.5}


def test_the_request_id_goes_along_with_the_callers_headers() -> None:
    peer = ScriptedPeer(httpx.Response(200))

    with Flask(__name__).test_request_context():
        g.request_id = "trace-me-42"
        client(peer).read("GET", "/thing", headers={"Authorization": "Bearer token"})

    sent = peer.requests[0].headers
    assert (sent[REQUEST_ID_HEADER], sent["Authorization"]) == ("trace-me-42", "Bearer token")


def test_the_worst_cases_count_every_wait() -> None:
    policy = PeerPolicy(
        read_timeout_seconds=3.0, attempts=2, connect_timeout_seconds=1.0, backoff_seconds=0.1
    )

    # Each attempt: a new connection, then the answer; 0.1 s between the two attempts.
    assert policy.read_worst_case_seconds() == pytest.approx(2 * (1 + 3) + 0.1)
    assert policy.write_worst_case_seconds(20.0) == 1 + 20
