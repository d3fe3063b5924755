"""The edge serves pages whole: every path of a route group reaches the part that owns it.

The edge answers only its own operational endpoints (/healthz, /readyz, /metrics); every
other path, /static/ included, belongs to a route group and goes to that group's part. A
route of the edge's own in front of the proxy (Flask's default `/static/<filename>`) once
answered the pages' stylesheet with a 404, and every page rendered unstyled.

The live tests put an edge (the lane alone, or Caddy or nginx in front of it) in front of
the real monolith and the real microservices, in a phase where the monolith serves the
pages and in one where web-ui does, and look at the pages as a browser does: the
stylesheet, the script and the images each page references. Every phase is checked in
process.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from snappy_devstack.processes import LOOPBACK, free_ports
from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.routing import PHASES
from snappy_edge.serve import CADDY, LANE_ONLY, NGINX
from snappy_topology import EDGE_PHASE, PartName, RouteGroupName, url_setting
from tests.images import image_bytes
from tests.support.gunicorn import STOP_GRACE_SECONDS, launch_gunicorn, wait_until_ready
from tests.support.live import LiveMicroservices, LiveMonolith

# The lane alone (`snappy up`'s default), and each proxy the edge can put in front of it.
FRONTS = [LANE_ONLY, CADDY, NGINX]
# The edge's own endpoints: the only paths it answers itself.
OPERATIONAL_PATHS = {"/healthz", "/readyz", "/metrics"}
# What both versions' base template links: the pages' stylesheet and script.
STYLESHEET = "/static/snappy.css"
SCRIPT = "/static/snappy.js"
PASSWORD = "correct-horse-battery"
_CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_UPLOAD_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def test_the_edge_routes_nothing_but_its_operational_endpoints_and_the_proxy() -> None:
    app = create_app(EdgeSettings(phase=3, upstreams={}))

    own_rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "forward"}

    assert own_rules == OPERATIONAL_PATHS
    assert app.static_folder is None


@pytest.mark.parametrize("phase", sorted(PHASES))
@pytest.mark.parametrize("path", [STYLESHEET, "/static/anything/else.png", "/favicon.ico", "/robots.txt"])
def test_every_page_path_reaches_the_part_serving_pages_in_process(phase: int, path: str) -> None:
    owner = PHASES[phase][RouteGroupName.PAGES]
    seen: list[tuple[str, str]] = []

    def part(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.raw_path.decode()))
        # A stream, as from the network: the edge streams the answer through.
        return httpx.Response(
            200, stream=httpx.ByteStream(b"from the part"), headers={"Content-Type": "text/css"}
        )

    upstreams: dict[PartName, str] = {
        name: f"http://{name}.test" for name in PartName if name != PartName.EDGE
    }
    app = create_app(EdgeSettings(phase=phase, upstreams=upstreams), transport=httpx.MockTransport(part))

    response = app.test_client().get(path)

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "from the part"
    assert seen == [(f"{owner}.test", path)]


@dataclass(frozen=True)
class LiveEdge:
    """An edge process in one phase, and where it answers."""

    url: str
    phase: int
    front: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def part_urls(live_monolith: LiveMonolith, live_microservices: LiveMicroservices) -> dict[PartName, str]:
    """Where each real part answers."""
    return {
        PartName.MONOLITH: live_monolith.base_url,
        PartName.USER_SERVICE: live_microservices.user_service_url,
        PartName.PHOTO_SERVICE: live_microservices.photo_service_url,
        PartName.WEB_UI: live_microservices.web_ui_url,
    }


# One live phase per part that serves pages: the monolith's (0; 1 and 2 route pages alike)
# and web-ui's (3; 4 likewise). Every phase is checked in process above.
LIVE_PHASES = (0, 3)


@pytest.fixture(scope="module", params=[(front, phase) for front in FRONTS for phase in LIVE_PHASES])
def edge(
    request: pytest.FixtureRequest, part_urls: dict[PartName, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveEdge]:
    """An edge in each phase behind each front, in front of the parts that phase uses."""
    front, phase = request.param
    folder = tmp_path_factory.mktemp(f"edge-{front}-{phase}")
    [port] = free_ports(1)
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SNAPPY_")},
        EDGE_PHASE: str(phase),
        "SNAPPY_EDGE_FRONT": front,
        "SNAPPY_EDGE_CONTROL_FILE": str(folder / "edge-control.json"),
        **{url_setting(part): part_urls[part] for part in set(PHASES[phase].values())},
    }
    log_path = folder / "edge.log"
    process = launch_gunicorn("snappy_edge", environment, port, log_path)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until_ready(url, process, log_path)
        yield LiveEdge(url, phase, front, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_SECONDS)


def pages_owner_url(edge: LiveEdge, part_urls: dict[PartName, str]) -> str:
    return part_urls[PHASES[edge.phase][RouteGroupName.PAGES]]


@pytest.mark.live
@pytest.mark.parametrize("asset", [STYLESHEET, SCRIPT])
@pytest.mark.parametrize(
    "extra_headers",
    # A plain read goes straight from a front to the part; one with a body framing goes
    # through the lane. Either way the part's bytes come back.
    [{}, {"Content-Length": "0"}],
    ids=["plain-read", "through-the-lane"],
)
def test_the_pages_assets_come_from_the_part_serving_pages_byte_for_byte(
    edge: LiveEdge, part_urls: dict[PartName, str], asset: str, extra_headers: dict[str, str]
) -> None:
    from_part = httpx.get(pages_owner_url(edge, part_urls) + asset, timeout=10)

    through_edge = httpx.get(edge.url + asset, headers=extra_headers, timeout=10)

    assert from_part.status_code == 200
    assert through_edge.status_code == 200, through_edge.text
    expected_type = "text/css" if asset.endswith(".css") else "text/javascript"
    assert through_edge.headers["content-type"].split(";")[0] == expected_type
    assert through_edge.content == from_part.content
    assert len(through_edge.content) > 100


@pytest.mark.live
def test_the_edges_own_endpoints_are_its_own(edge: LiveEdge) -> None:
    metrics = httpx.get(f"{edge.url}/metrics", timeout=10)
    ready = httpx.get(f"{edge.url}/readyz", timeout=10)

    assert metrics.status_code == 200
    # The edge's own metrics, not a part's: only the edge counts shadow comparisons.
    assert "snappy_edge_shadow_comparisons" in metrics.text
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


class _AssetReferences(HTMLParser):
    """The stylesheets, scripts and images a page references, as written."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and "stylesheet" in (attributes.get("rel") or "").split():
            self.references.append(attributes.get("href") or "")
        elif tag in {"script", "img"} and attributes.get("src"):
            self.references.append(attributes["src"] or "")


def asset_references(page_url: str, html: str) -> list[str]:
    """The same-origin URLs of the assets `html` references."""
    parser = _AssetReferences()
    parser.feed(html)
    origin = urlsplit(page_url).netloc
    absolute = [urljoin(page_url, reference) for reference in parser.references]
    return [url for url in absolute if urlsplit(url).netloc == origin]


def form_value(pattern: re.Pattern[str], page: str) -> str:
    match = pattern.search(page)
    assert match, f"no {pattern.pattern} on the page"
    return match.group(1)


def signed_up_person(http: httpx.Client, username: str) -> int:
    """Sign up and upload a photo through the pages, as a person does; the photo's id."""
    signup = http.get("/signup").text
    created = http.post(
        "/signup",
        data={
            "username": username,
            "display_name": username.title(),
            "password": PASSWORD,
            "csrf_token": form_value(_CSRF_TOKEN, signup),
        },
    )
    assert created.status_code == 302, created.text
    upload = http.get("/upload").text
    uploaded = http.post(
        "/upload",
        data={
            "caption": "Through the edge",
            "visibility": "public",
            "csrf_token": form_value(_CSRF_TOKEN, upload),
            "idempotency_key": form_value(_UPLOAD_KEY, upload),
        },
        files={"file": ("photo.jpg", image_bytes(), "image/jpeg")},
    )
    assert uploaded.status_code == 302, uploaded.text
    return int(uploaded.headers["Location"].rsplit("/", 1)[1])


@pytest.mark.live
def test_every_asset_a_page_references_answers_through_the_edge(edge: LiveEdge) -> None:
    username = f"whole_{edge.front}_{edge.phase}_{secrets.token_hex(3)}"
    with (
        httpx.Client(base_url=edge.url, timeout=30) as visitor,
        httpx.Client(base_url=edge.url, timeout=30) as person,
    ):
        photo_id = signed_up_person(person, username)
        pages = [
            (visitor, "/"),
            (visitor, "/signup"),
            (visitor, "/login"),
            (visitor, "/no-such-page"),
            (person, "/"),
            (person, "/photos"),
            (person, "/upload"),
            (person, f"/photos/{photo_id}"),
            (person, f"/users/{username}"),
        ]
        checked: dict[str, int] = {}
        for client, path in pages:
            page = client.get(path)
            assert page.status_code in {200, 404}, (path, page.status_code)
            assert page.headers["content-type"].startswith("text/html"), path
            references = asset_references(f"{edge.url}{path}", page.text)
            assert f"{edge.url}{STYLESHEET}" in references, path
            for url in references:
                if url not in checked:
                    checked[url] = client.get(url).status_code

    assert {url: status for url, status in checked.items() if status != 200} == {}
    # The signed-in pages' thumbnails and full image were among them.
    assert any(f"/photos/{photo_id}/" in url for url in checked)
