"""Two replicas of each service behind the edge behave exactly like one.

`snappy up --stack microservices --replicas 2` runs user-service, photo-service and web-ui
twice each, every replica its own gunicorn on its own port with its own log, and gives the
edge both addresses of each. This is the property that makes scaling a service out safe:
sessions, tokens, the JWKS, uploads and pagination must not care which replica answers.

Which replica served a request is read from outside, as an operator would: every request
carries an X-Request-ID of its own, and each replica's access log (its own file in the
state folder) names the ids it served. Nothing is added to the public answers for this.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from snappy_devstack import cli
from snappy_devstack.errors import DevstackError
from snappy_devstack.processes import free_ports, port_is_free
from snappy_devstack.stack import ensure_secrets, plan_stacks, server_environment
from snappy_edge.app import EdgeSettings
from snappy_edge.routing import component_for
from snappy_topology import PartName
from tests.devstack.conftest import PROVIDER_VARIABLES
from tests.devstack.test_devstack_stack import SERVICES as BACKING
from tests.images import image_bytes
from tests.strangler.conftest import STOP_TIMEOUT_SECONDS, snappy

REPLICAS = 2
SERVICES = (PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)
# The stack's edge routes by phase 3: every group to the service that owns it.
PHASE = 3
_START_TIMEOUT_SECONDS = 120
# How long a replica's access record may take to reach its log after the answer.
_LOG_TIMEOUT_SECONDS = 5.0
# Revocations reach photo-service this soon (its list of revoked tokens is refreshed this often).
_REVOCATION_TTL_SECONDS = 0.2
_PASSWORD = "correct-horse-battery"
_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)"')


def replica_names(part: PartName) -> set[str]:
    return {f"{part}-{number}" for number in range(1, REPLICAS + 1)}


# --- the plan -----------------------------------------------------------------------


def test_each_service_runs_as_replicas_on_ports_of_their_own(tmp_path: Path) -> None:
    (stack,) = plan_stacks("microservices", 18000, replicas=REPLICAS)
    stack_secrets = ensure_secrets(tmp_path)
    environments = {
        server.name: server_environment({}, server, services=BACKING, stack_secrets=stack_secrets)
        for server in stack.servers
    }

    assert list(environments) == [
        "user-service-1",
        "user-service-2",
        "photo-service-1",
        "photo-service-2",
        "web-ui-1",
        "web-ui-2",
        "edge",
    ]
    ports = [server.port for server in stack.servers]
    assert len(set(ports)) == len(ports)
    assert stack.entry.port == 18000
    url = {server.name: server.url for server in stack.servers}
    # One database per part, whichever replica.
    assert (
        environments["user-service-1"]["SNAPPY_DATABASE_URL"]
        == environments["user-service-2"]["SNAPPY_DATABASE_URL"]
    )
    # Replica i calls replica i of each service it calls.
    for number in (1, 2):
        photos, pages = environments[f"photo-service-{number}"], environments[f"web-ui-{number}"]
        assert photos["SNAPPY_USER_SERVICE_URL"] == url[f"user-service-{number}"]
        assert pages["SNAPPY_USER_SERVICE_URL"] == url[f"user-service-{number}"]
        assert pages["SNAPPY_PHOTO_SERVICE_URL"] == url[f"photo-service-{number}"]
    # The edge gets every replica, in order, and reads them as such.
    edge = EdgeSettings.from_environ(environments["edge"])
    assert edge.replicas == {
        part: tuple(url[name] for name in sorted(replica_names(part))) for part in SERVICES
    }


def test_one_replica_is_the_stack_as_before() -> None:
    (stack,) = plan_stacks("microservices", 18000, replicas=1)
    assert [server.name for server in stack.servers] == ["user-service", "photo-service", "web-ui", "edge"]
    assert all(server.replica is None for server in stack.servers)
    assert "," not in stack.entry.peers[PartName.PHOTO_SERVICE]


def test_both_stacks_replicate_the_services_and_keep_one_monolith() -> None:
    monolith, microservices = plan_stacks("both", 18000, replicas=REPLICAS)

    assert [server.name for server in monolith.servers] == ["monolith"]
    assert len(microservices.servers) == len(SERVICES) * REPLICAS + 1
    # The monolith stays one address: it is the shadow candidate, not a replicated service.
    assert microservices.entry.peers[PartName.MONOLITH] == monolith.entry.url
    assert len(microservices.entry.peers[PartName.USER_SERVICE].split(",")) == REPLICAS


@pytest.mark.parametrize("choice", ["monolith", "strangler"])
def test_replicas_are_for_the_stacks_whose_services_are_behind_an_edge(choice: str) -> None:
    with pytest.raises(DevstackError, match=f"--replicas is for the microservices and both stacks.*{choice}"):
        plan_stacks(choice, 18000, replicas=REPLICAS)


def test_snappy_up_says_so_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / ".snappy"
    arguments = ["up", "--stack", "strangler", "--replicas", "2", "--state-dir", str(state_dir)]

    assert cli.main(arguments) == 1

    assert "--replicas is for the microservices and both stacks" in capsys.readouterr().err
    assert not state_dir.exists()


# --- the running stack --------------------------------------------------------------


@dataclass(frozen=True)
class ReplicatedStack:
    """A running `snappy up --stack microservices --replicas 2`: its edge, logs and announcement."""

    edge_url: str
    logs: Path
    output: str
    replica_urls: dict[str, str]

    def served_by(self, part: PartName, request_id: str, path: str) -> str:
        """The replica of `part` whose access log has the request `request_id` for `path`."""
        deadline = time.monotonic() + _LOG_TIMEOUT_SECONDS
        while True:
            found = {name for name in replica_names(part) if self._logged(name, request_id, path)}
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) == 1, f"{request_id} ({path}) was served by {found or 'no replica'} of {part}"
        return found.pop()

    def _logged(self, name: str, request_id: str, path: str) -> bool:
        for line in (self.logs / f"{name}.log").read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("request_id") == request_id and record.get("path") == path:
                return True
        return False


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedStack]:
    """`snappy up --stack microservices --replicas 2` on embedded servers, announced and ready."""
    workdir = tmp_path_factory.mktemp("replicas")
    state_dir = workdir / ".snappy"
    [port] = free_ports(1)
    output_path = workdir / "snappy-up.out"
    command = [*snappy(), "up", "--stack", "microservices", "--replicas", str(REPLICAS), "--port", str(port)]
    environment = {name: value for name, value in os.environ.items() if name not in PROVIDER_VARIABLES}
    # Embedded servers in the test's state folder: the fixed database and bucket names must not
    # touch those a developer's own stack keeps on a shared server.
    environment["SNAPPY_DEV_PROVIDER"] = "embedded"
    environment["SNAPPY_REVOCATION_TTL_SECONDS"] = str(_REVOCATION_TTL_SECONDS)
    with output_path.open("wb") as written:
        process = subprocess.Popen(
            [*command, "--state-dir", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=written,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=workdir,
        )
    try:
        output = _announced(process, output_path)
        urls = dict(re.findall(r"([a-z-]+-\d) at (http://127\.0\.0\.1:\d+)", output))
        yield ReplicatedStack(f"http://127.0.0.1:{port}", state_dir / "logs", output, urls)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
        assert [url for url in urls.values() if not port_is_free(int(url.rsplit(":", 1)[1]))] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _announced(process: subprocess.Popen[bytes], output_path: Path) -> str:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while "Press Ctrl-C to stop." not in (output := output_path.read_text(errors="replace")):
        if process.poll() is not None:
            pytest.fail(f"snappy up exited with {process.returncode}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"snappy up was not up within {_START_TIMEOUT_SECONDS} s:\n{output}")
        time.sleep(0.25)
    return output


@dataclass(frozen=True)
class Served:
    """An answer, and the replica that gave it."""

    response: httpx.Response
    replica: str

    def json(self) -> Any:
        return self.response.json()


class Visitor:
    """A client of the edge (cookies kept) that finds out which replica served each request."""

    def __init__(self, stack: ReplicatedStack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.edge_url, timeout=15, follow_redirects=False)

    def send(self, method: str, target: str, token: str | None = None, **options: Any) -> Served:
        request_id = f"replicas-{secrets.token_hex(8)}"
        headers = {"X-Request-ID": request_id, **options.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, target, headers=headers, **options)
        path = target.split("?", 1)[0]
        return Served(response, self.stack.served_by(component_for(PHASE, path), request_id, path))

    def get(self, target: str, token: str | None = None, **options: Any) -> Served:
        return self.send("GET", target, token, **options)

    def post(self, target: str, token: str | None = None, **options: Any) -> Served:
        return self.send("POST", target, token, **options)

    def user_with_token(self) -> tuple[str, str, str]:
        """A new user: its name, a token and the replica of user-service that issued it."""
        username = f"rep_{secrets.token_hex(4)}"
        user = {"username": username, "password": _PASSWORD, "display_name": username.title()}
        assert self.post("/api/v1/users", json=user).response.status_code == 201
        logged_in = self.post("/api/v1/tokens", json={"username": username, "password": _PASSWORD})
        assert logged_in.response.status_code == 201, logged_in.response.text
        return username, logged_in.json()["access_token"], logged_in.replica

    def upload(self, token: str, data: bytes, *, key: str | None = None) -> Served:
        headers = {} if key is None else {"Idempotency-Key": key}
        files = {"file": ("photo.jpg", data, "image/jpeg")}
        form = {"caption": "replicated", "visibility": "private"}
        return self.post("/api/v1/photos", token, files=files, data=form, headers=headers)


@pytest.fixture
def visitor(replicated: ReplicatedStack) -> Iterator[Visitor]:
    client = Visitor(replicated)
    with client.http:
        yield client


def alternates(replicas: list[str]) -> bool:
    """Whether each request went to another replica than the one before it."""
    return all(one != following for one, following in itertools.pairwise(replicas))


@pytest.mark.live
def test_the_edge_takes_each_services_replicas_in_turn(replicated: ReplicatedStack, visitor: Visitor) -> None:
    for part in SERVICES:
        for name in sorted(replica_names(part)):
            assert f"{name} at http://127.0.0.1:" in replicated.output
            assert (replicated.logs / f"{name}.log").stat().st_size > 0
        # Its database migrated once, whichever replica.
        assert not (replicated.logs / f"{part}-2-migrate.log").exists()
    assert "replicas: the edge takes each service's in turn" in replicated.output

    # Reads (through the edge's front, where nginx is installed) and writes (through its lane).
    reads = {
        part: [visitor.get(target).replica for _ in range(4)]
        for part, target in [
            (PartName.USER_SERVICE, "/.well-known/jwks.json"),
            (PartName.PHOTO_SERVICE, "/api/v1/photos"),
            (PartName.WEB_UI, "/login"),
        ]
    }
    writes = {
        part: [visitor.post(target, json={}).replica for _ in range(4)]
        for part, target in [
            (PartName.USER_SERVICE, "/api/v1/users"),
            (PartName.PHOTO_SERVICE, "/api/v1/photos"),
            (PartName.WEB_UI, "/login"),
        ]
    }

    for part in SERVICES:
        for taken in (reads[part], writes[part]):
            assert set(taken) == replica_names(part), taken
            assert alternates(taken), taken


@pytest.mark.live
def test_a_token_from_one_replica_opens_both_and_its_revocation_closes_both(
    replicated: ReplicatedStack, visitor: Visitor
) -> None:
    username, token, issuer = visitor.user_with_token()
    second_session = visitor.post("/api/v1/tokens", json={"username": username, "password": _PASSWORD})
    other_token = second_session.json()["access_token"]

    me = [visitor.get("/api/v1/users/me", token) for _ in range(2)]
    photos = [visitor.get("/api/v1/photos", token) for _ in range(2)]

    assert [served.response.status_code for served in me + photos] == [200] * 4
    assert {served.json()["username"] for served in me} == {username}
    assert {served.replica for served in me} == replica_names(PartName.USER_SERVICE)
    assert issuer in replica_names(PartName.USER_SERVICE)  # and the other one read it as well
    # photo-service's replicas each check it against the keys of their own user-service replica.
    assert {served.replica for served in photos} == replica_names(PartName.PHOTO_SERVICE)

    # One key set, whichever replica serves it: through the edge, and from each replica itself.
    documents = [visitor.get("/.well-known/jwks.json") for _ in range(2)]
    assert {served.replica for served in documents} == replica_names(PartName.USER_SERVICE)
    assert documents[0].json() == documents[1].json()
    assert documents[0].json()["keys"]
    for name in sorted(replica_names(PartName.USER_SERVICE)):
        direct = httpx.get(f"{replicated.replica_urls[name]}/.well-known/jwks.json", timeout=10)
        assert direct.json() == documents[0].json()

    # Logged out through one replica, the token opens nothing on either; the other session goes on.
    assert visitor.send("DELETE", "/api/v1/tokens/current", token).response.status_code == 204
    time.sleep(_REVOCATION_TTL_SECONDS * 3)
    refused = [visitor.get(path, token) for path in ("/api/v1/users/me",) * 2 + ("/api/v1/photos",) * 2]
    assert [served.response.status_code for served in refused] == [401] * 4
    assert {served.replica for served in refused} == replica_names(PartName.USER_SERVICE) | replica_names(
        PartName.PHOTO_SERVICE
    )
    still = [visitor.get("/api/v1/users/me", other_token) for _ in range(2)]
    assert [served.response.status_code for served in still] == [200, 200]
    assert {served.replica for served in still} == replica_names(PartName.USER_SERVICE)


@pytest.mark.live
def test_a_web_session_stays_logged_in_on_every_replica(visitor: Visitor) -> None:
    username, _, _ = visitor.user_with_token()
    form = visitor.get("/login")
    csrf = _CSRF_INPUT.search(form.response.text)
    assert csrf is not None, form.response.text
    credentials = {"csrf_token": csrf.group(1), "username": username, "password": _PASSWORD}
    logged_in = visitor.post("/login", data=credentials)
    assert logged_in.response.status_code == 302, logged_in.response.text
    assert "snappy_session" in visitor.http.cookies

    pages = [visitor.get(path) for path in ("/", "/", "/photos", "/photos", "/upload", "/upload")]

    for page in pages:
        assert page.response.status_code == 200, page.response.text
        assert f'data-testid="current-user">{username}</a>' in page.response.text
    # Each page twice in a row: once on each replica.
    for first, second in zip(pages[::2], pages[1::2], strict=True):
        assert {first.replica, second.replica} == replica_names(PartName.WEB_UI)

    # Logged out through one replica, the session is over on both.
    logout_csrf = _CSRF_INPUT.search(pages[-1].response.text)
    assert logout_csrf is not None
    assert visitor.post("/logout", data={"csrf_token": logout_csrf.group(1)}).response.status_code == 302
    landing = [visitor.get("/") for _ in range(2)]
    assert {served.replica for served in landing} == replica_names(PartName.WEB_UI)
    for served in landing:
        assert 'data-testid="landing-login"' in served.response.text


@pytest.mark.live
def test_an_upload_through_one_replica_is_read_whole_through_both_and_replayed_by_the_other(
    visitor: Visitor,
) -> None:
    _, token, _ = visitor.user_with_token()
    data = image_bytes(size=(400, 300))
    key = f"upload-{secrets.token_hex(4)}"

    first = visitor.upload(token, data, key=key)
    replay = visitor.upload(token, data, key=key)

    assert first.response.status_code == 201, first.response.text
    assert replay.response.status_code == 201, replay.response.text
    # The retry landed on the other replica, which replayed the photo the first one stored.
    assert replay.replica != first.replica
    assert replay.json() == first.json()
    assert replay.response.headers["Location"] == first.response.headers["Location"]

    photo = f"/api/v1/photos/{first.json()['id']}"
    metadata = [visitor.get(photo, token) for _ in range(2)]
    content = [visitor.get(f"{photo}/content", token) for _ in range(2)]
    thumbnails = [visitor.get(f"{photo}/thumbnail", token) for _ in range(2)]
    for both in (metadata, content, thumbnails):
        assert [served.response.status_code for served in both] == [200, 200]
        assert {served.replica for served in both} == replica_names(PartName.PHOTO_SERVICE)
    assert [served.json() for served in metadata] == [first.json()] * 2
    assert [served.response.content for served in content] == [data] * 2
    assert thumbnails[0].response.headers["Content-Type"] == "image/jpeg"
    assert thumbnails[0].response.content == thumbnails[1].response.content
    # One photo stored, not two.
    listed = visitor.get("/api/v1/photos", token).json()
    assert [item["id"] for item in listed["items"]] == [first.json()["id"]]


@pytest.mark.live
def test_a_cursor_from_one_replica_continues_on_the_other(visitor: Visitor) -> None:
    _, token, _ = visitor.user_with_token()
    uploaded = [visitor.upload(token, image_bytes(color=(shade, 80, 40))) for shade in range(0, 250, 50)]
    assert [served.response.status_code for served in uploaded] == [201] * 5
    everything = visitor.get("/api/v1/photos?limit=100", token).json()
    expected = [item["id"] for item in everything["items"]]
    assert sorted(expected) == sorted(served.json()["id"] for served in uploaded)

    pages: list[Served] = [visitor.get("/api/v1/photos?limit=2", token)]
    while (cursor := pages[-1].json()["next_cursor"]) is not None:
        pages.append(visitor.get(f"/api/v1/photos?limit=2&cursor={cursor}", token))

    seen = [item["id"] for page in pages for item in page.json()["items"]]
    assert seen == expected  # every photo once, in the order of the whole list
    assert len(pages) == 3
    # Each cursor was issued by one replica and continued by the other.
    assert alternates([page.replica for page in pages])
