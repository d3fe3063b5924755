"""Several addresses for one part: the lane and both fronts take a part's replicas in turn.

A part's URL variable may hold a comma-separated list (`snappy_edge.replicas`). The lane is
driven here through an `httpx.MockTransport` that says which address each request reached;
the fronts' configurations are rendered and, for nginx, checked by nginx itself; the last
tests run the edge as it runs (each front, and the lane alone) in front of two stand-ins
for photo-service, or one and an address where nothing listens.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from snappy_devstack.processes import LOOPBACK, free_ports, wait_until
from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.control import EdgeControl
from snappy_edge.front import FrontPlan, caddy_configuration
from snappy_edge.nginx_front import nginx_configuration
from snappy_edge.replicas import RoundRobin, parse_addresses
from snappy_plumbing import gunicorn_conf
from snappy_plumbing.config import ConfigurationError
from snappy_topology import PartName
from tests.migration.test_edge_front import start_edge, stop
from tests.support.echo_server import echo_server
from tests.support.gunicorn import wait_until_ready

PHOTOS = ("http://photos-1.upstream", "http://photos-2.upstream")
UPSTREAMS = {
    PartName.USER_SERVICE: "http://users.upstream",
    PartName.PHOTO_SERVICE: ",".join(PHOTOS),
    PartName.WEB_UI: "http://pages.upstream",
}
PHOTO_LIST = "/api/v1/photos"


class Replicas:
    """Every part at once: records the host each request reached; an address may refuse connections."""

    def __init__(self, *, refusing: frozenset[str] = frozenset(), not_ready: frozenset[str] = frozenset()):
        self.reached: list[str] = []
        self.refusing = refusing
        self.not_ready = not_ready
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        origin = f"http://{request.url.host}"
        if origin in self.refusing:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/readyz":
            return httpx.Response(503 if origin in self.not_ready else 200)
        with self._lock:
            self.reached.append(origin)
        body = json.dumps({"served_by": origin}).encode()
        # A stream, as from a network: the lane streams the answer on without reading it first.
        return httpx.Response(
            200, headers={"Content-Type": "application/json"}, stream=httpx.ByteStream(body)
        )


def lane(replicas: Replicas) -> FlaskClient:
    settings = EdgeSettings(phase=3, upstreams=UPSTREAMS)
    return create_app(settings, transport=httpx.MockTransport(replicas.handle)).test_client(use_cookies=False)


# --- the setting --------------------------------------------------------------------


def test_one_url_is_read_as_before() -> None:
    settings = EdgeSettings.from_environ({"SNAPPY_PHOTO_SERVICE_URL": " http://photo-service:8000/ "})

    assert settings.upstreams == {PartName.PHOTO_SERVICE: "http://photo-service:8000"}
    assert settings.replicas == {PartName.PHOTO_SERVICE: ("http://photo-service:8000",)}


def test_a_list_of_urls_is_every_replica_in_its_order() -> None:
    settings = EdgeSettings.from_environ(
        {"SNAPPY_PHOTO_SERVICE_URL": "http://127.0.0.1:9002/, http://127.0.0.1:9001"}
    )

    assert settings.replicas == {PartName.PHOTO_SERVICE: ("http://127.0.0.1:9002", "http://127.0.0.1:9001")}
    assert settings.upstreams == {PartName.PHOTO_SERVICE: "http://127.0.0.1:9002,http://127.0.0.1:9001"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://a:1,,http://b:2", r"SNAPPY_PHOTO_SERVICE_URL holds an empty address \(item 2 of"),
        ("http://a:1,", r"SNAPPY_PHOTO_SERVICE_URL holds an empty address \(item 2 of"),
        (",http://a:1", r"SNAPPY_PHOTO_SERVICE_URL holds an empty address \(item 1 of"),
        ("http://a:1,b:2", r"SNAPPY_PHOTO_SERVICE_URL must hold http:// or https:// URLs, got 'b:2'"),
        ("http://a:1,ftp://b:2", r"must hold http:// or https:// URLs, got 'ftp://b:2'"),
        ("http://:8000,http://b:2", r"must hold http:// or https:// URLs, got 'http://:8000'"),
        ("photo-service:8000", r"must hold http:// or https:// URLs, got 'photo-service:8000'"),
        ("http://a:1,http://a:1/", r"SNAPPY_PHOTO_SERVICE_URL names http://a:1 more than once"),
        ("http://a:1/x,http://b:2/y", r"the addresses of SNAPPY_PHOTO_SERVICE_URL must share one path"),
    ],
)
def test_a_list_that_is_not_urls_is_refused_at_start(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EdgeSettings.from_environ({"SNAPPY_PHOTO_SERVICE_URL": value})


def test_settings_built_in_code_are_checked_alike() -> None:
    with pytest.raises(ConfigurationError, match="SNAPPY_WEB_UI_URL holds an empty address"):
        EdgeSettings(upstreams={PartName.WEB_UI: "http://web-ui:8000,"})


def test_https_and_a_shared_path_are_accepted() -> None:
    value = "https://a.example/prefix,https://b.example:8443/prefix/"
    assert parse_addresses("X", value) == ("https://a.example/prefix", "https://b.example:8443/prefix/")


# --- the lane -----------------------------------------------------------------------


def test_round_robin_gives_each_address_its_turn_in_order() -> None:
    turns = RoundRobin(["http://a", "http://b", "http://c"])
    assert [turns.next() for _ in range(7)] == [
        "http://a",
        "http://b",
        "http://c",
        "http://a",
        "http://b",
        "http://c",
        "http://a",
    ]
    assert {RoundRobin(["http://only"]).next() for _ in range(3)} == {"http://only"}


def test_round_robin_shares_the_turns_evenly_between_threads() -> None:
    turns = RoundRobin(PHOTOS)
    taken: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        mine = Counter(turns.next() for _ in range(2_000))
        with lock:
            taken.update(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 16,000 turns of one sequence: exactly half each, however the threads interleaved.
    assert taken == {PHOTOS[0]: 8_000, PHOTOS[1]: 8_000}


def test_the_lane_sends_each_request_to_the_next_replica_whatever_its_method() -> None:
    replicas = Replicas()
    client = lane(replicas)

    answers = [
        client.get(PHOTO_LIST),
        client.post(PHOTO_LIST, data=b"x", content_type="application/octet-stream"),
        client.get(f"{PHOTO_LIST}/7"),
        client.delete(f"{PHOTO_LIST}/7"),
        client.head(PHOTO_LIST),
    ]

    assert [answer.status_code for answer in answers] == [200] * 5
    assert replicas.reached == [PHOTOS[0], PHOTOS[1], PHOTOS[0], PHOTOS[1], PHOTOS[0]]


def test_a_part_with_one_url_gets_every_request_there() -> None:
    replicas = Replicas()
    client = lane(replicas)

    for _ in range(3):
        assert client.get("/api/v1/users/alice").status_code == 200

    assert replicas.reached == ["http://users.upstream"] * 3


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_replica_that_refuses_the_connection_is_not_retried_on_the_other(method: str) -> None:
    replicas = Replicas(refusing=frozenset({PHOTOS[0]}))
    client = lane(replicas)

    refused = client.open(PHOTO_LIST, method=method, data=b"x" if method == "POST" else None)
    following = client.open(PHOTO_LIST, method=method, data=b"x" if method == "POST" else None)

    assert refused.status_code == 503
    assert refused.get_json()["detail"] == "photo-service is not answering"
    # The failed request reached no replica; the next one is the other replica's turn.
    assert following.status_code == 200
    assert following.get_json() == {"served_by": PHOTOS[1]}
    assert replicas.reached == [PHOTOS[1]]


def test_the_edge_is_ready_only_when_every_replica_is() -> None:
    assert lane(Replicas()).get("/readyz").status_code == 200
    one_not_ready = lane(Replicas(not_ready=frozenset({PHOTOS[1]}))).get("/readyz")
    assert one_not_ready.status_code == 503
    assert "photo-service" in one_not_ready.get_data(as_text=True)


# --- the fronts ---------------------------------------------------------------------


def front_plan(upstreams: dict[PartName, tuple[str, ...]]) -> FrontPlan:
    return FrontPlan(
        listen="127.0.0.1:18080",
        lane="127.0.0.1:18081",
        admin="unix//tmp/admin.sock",
        phase=3,
        upstreams=upstreams,
        connect_timeout_seconds=2.0,
        read_timeout_seconds=30.0,
        max_body_bytes=1024,
    )


REPLICATED_PLAN = front_plan(
    {
        PartName.USER_SERVICE: ("http://127.0.0.1:9001", "http://127.0.0.1:9002"),
        PartName.PHOTO_SERVICE: ("http://127.0.0.1:9003", "http://127.0.0.1:9004"),
        PartName.WEB_UI: ("http://127.0.0.1:9005",),
    }
)


def test_nginx_lists_every_replica_in_the_parts_upstream(tmp_path: Path) -> None:
    configuration = nginx_configuration(REPLICATED_PLAN, EdgeControl(), tmp_path)

    assert (
        "    upstream photo_service { server 127.0.0.1:9003; server 127.0.0.1:9004; keepalive 32;"
        " keepalive_timeout 2s; }" in configuration.splitlines()
    )
    assert (
        "    upstream user_service { server 127.0.0.1:9001; server 127.0.0.1:9002; keepalive 32;"
        " keepalive_timeout 2s; }" in configuration.splitlines()
    )
    # One address: the block as it has always been.
    assert (
        "    upstream web_ui { server 127.0.0.1:9005; keepalive 32; keepalive_timeout 2s; }"
        in configuration.splitlines()
    )
    # nginx's default balancing (round robin), and a read is never sent to a second replica.
    assert "least_conn" not in configuration
    assert "hash " not in configuration
    assert configuration.count("proxy_next_upstream off;") == 2
    # Host names one replica of the part: the first.
    assert "        photo_service 127.0.0.1:9003;" in configuration.splitlines()


def test_nginx_takes_the_configuration_with_replicas(tmp_path: Path) -> None:
    """nginx itself checks the rendered file (`nginx -t`), as the edge does before a reload."""
    # nginx is a Debian package (nginx-light), not a PyPI one: .ci/run installs it.
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / kind).mkdir()
    configuration_file = tmp_path / "nginx.conf"
    configuration_file.write_text(
        nginx_configuration(REPLICATED_PLAN, EdgeControl(), tmp_path), encoding="utf-8"
    )

    checked = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(configuration_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert checked.returncode == 0, checked.stderr


def fast_route_of(configuration: dict[str, Any], dial: str) -> dict[str, Any]:
    """The reverse_proxy handler of the plain-read route whose upstreams include `dial`."""
    text = json.dumps(configuration)
    routes = configuration["apps"]["http"]["servers"]["edge"]["routes"]
    for route in routes:
        for handler in route.get("handle", []):
            for fast in handler.get("routes", []):
                proxy: dict[str, Any] = fast["handle"][0]
                if {"dial": dial} in proxy.get("upstreams", []):
                    return proxy
    raise AssertionError(f"no plain-read route dials {dial}: {text[:500]}")


def test_caddy_takes_the_replicas_in_turn_and_one_address_as_before() -> None:
    configuration = caddy_configuration(REPLICATED_PLAN, EdgeControl())

    photos = fast_route_of(configuration, "127.0.0.1:9003")
    assert photos["upstreams"] == [{"dial": "127.0.0.1:9003"}, {"dial": "127.0.0.1:9004"}]
    assert photos["load_balancing"] == {"selection_policy": {"policy": "round_robin"}}
    pages = fast_route_of(configuration, "127.0.0.1:9005")
    assert pages["upstreams"] == [{"dial": "127.0.0.1:9005"}]
    assert "load_balancing" not in pages


# --- the edge as it runs ------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_replicas() -> Iterator[dict[PartName, str]]:
    """Stand-ins for every part the edge routes to in phase 3, photo-service twice."""
    with ExitStack() as servers:
        users, pages, first, second = (
            servers.enter_context(echo_server(name))
            for name in ("user-service", "web-ui", "photo-service-1", "photo-service-2")
        )
        yield {
            PartName.USER_SERVICE: users.url,
            PartName.WEB_UI: pages.url,
            PartName.PHOTO_SERVICE: f"{first.url},{second.url}",
        }


def served_by(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    part: str = response.json()["part"]
    return part


@pytest.mark.live
@pytest.mark.parametrize("front", ["nginx", "caddy", "none"])
def test_the_running_edge_alternates_reads_and_writes_between_replicas(
    front: str, photo_replicas: dict[PartName, str], tmp_path: Path
) -> None:
    """Plain reads go through the front's round robin, writes through the lane's: both alternate."""
    edge = start_edge(tmp_path, front, photo_replicas)
    try:
        wait_until_ready(edge.url, edge.process, edge.log_path)
        with httpx.Client(base_url=edge.url, timeout=10) as client:
            reads = [served_by(client.get(f"{PHOTO_LIST}?page={number}")) for number in range(4)]
            writes = [served_by(client.post(PHOTO_LIST, content=b"x")) for _ in range(4)]
            pages = {served_by(client.get("/")) for _ in range(2)}
    finally:
        status = stop(edge)
    assert status == 0

    for sequence in (reads, writes):
        assert set(sequence) == {"photo-service-1", "photo-service-2"}, sequence
        assert all(one != following for one, following in itertools.pairwise(sequence)), sequence
    assert pages == {"web-ui"}


@pytest.fixture(scope="module")
def one_dead_replica() -> Iterator[dict[PartName, str]]:
    """As `photo_replicas`, but photo-service's second address has nothing listening."""
    [nothing_there] = free_ports(1)
    with ExitStack() as servers:
        users, pages, first = (
            servers.enter_context(echo_server(name)) for name in ("user-service", "web-ui", "photo-service-1")
        )
        yield {
            PartName.USER_SERVICE: users.url,
            PartName.WEB_UI: pages.url,
            PartName.PHOTO_SERVICE: f"{first.url},http://{LOOPBACK}:{nothing_there}",
        }


@pytest.mark.live
@pytest.mark.parametrize(
    ("front", "failed_reads"),
    [
        # nginx's defaults (max_fails=1, fail_timeout=10s): after one failed attempt it leaves
        # the replica out of its turns for 10 s.
        ("nginx", 1),
        # The lane and Caddy keep every replica in turn.
        ("caddy", 3),
        ("none", 3),
    ],
)
def test_a_replica_that_does_not_answer_fails_its_turns_and_nothing_is_tried_again(
    front: str, failed_reads: int, one_dead_replica: dict[PartName, str], tmp_path: Path
) -> None:
    edge = start_edge(tmp_path, front, one_dead_replica)
    try:
        # Alive, and not ready: the edge's /readyz needs every replica.
        assert wait_until(lambda: _answers(f"{edge.url}/healthz"), timeout=60, interval=0.1), edge.log_path
        with httpx.Client(base_url=edge.url, timeout=10) as client:
            ready = client.get("/readyz").status_code
            reads = [client.get(f"{PHOTO_LIST}?page={number}") for number in range(6)]
            writes = [client.post(PHOTO_LIST, content=b"x") for _ in range(4)]
    finally:
        status = stop(edge)
    assert status == 0

    assert ready == 503
    for answers, failed in ((reads, failed_reads), (writes, 2)):
        refused = [answer for answer in answers if answer.status_code == 503]
        assert len(refused) == failed, [answer.status_code for answer in answers]
        assert {answer.json()["detail"] for answer in refused} == {"photo-service is not answering"}
        # Every other answer came from the replica that answers: none was sent on after a failure.
        assert {served_by(answer) for answer in answers if answer.status_code != 503} == {"photo-service-1"}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_nginx_lets_an_idle_upstream_connection_go_before_the_part_closes_it(tmp_path: Path) -> None:
    """A kept-alive connection reused just as the part's gunicorn closes it fails the request.

    With `proxy_next_upstream off` nothing retries it: nginx's default idle time (60 s) gave a
    502 under load after a cutover. Every upstream lets its idle connections go well before the
    parts' keep-alive ends.
    """
    configuration = nginx_configuration(REPLICATED_PLAN, EdgeControl(), tmp_path)
    upstreams = [line for line in configuration.splitlines() if line.lstrip().startswith("upstream ")]
    assert len(upstreams) == 4  # the lane and three parts

    for upstream in upstreams:
        idle = re.search(r"keepalive_timeout (\d+)s;", upstream)
        assert idle is not None, upstream
        assert int(idle[1]) < gunicorn_conf.keepalive / 2, upstream
