"""Every phase of the strangler runs, and every write lands in the one table that owns it.

Each phase is started as a developer starts it (`snappy up --stack strangler --phase N
--seed`, on embedded PostgreSQL and S3) and used through its edge only, by the API and by
the pages as a browser sends them. The databases are then read directly, to prove where
each write landed (docs/decisions.md, ADR on data ownership):

| phase | users and tokens       | photos and shares      |
|-------|------------------------|------------------------|
| 0     | the monolith           | the monolith           |
| 1     | user-service; the monolith holds reference rows (password hash `!`) | the monolith |
| 2-4   | user-service           | photo-service          |

and that `snappy migrate verify`, scoped by the phase, passes, and fails once one side
is corrupted.
"""

from __future__ import annotations

import re
import secrets
import subprocess

import httpx
import pytest

from snappy_devstack.seed import DEMO_PASSWORD
from snappy_edge.routing import PHASES
from tests.images import image_bytes
from tests.strangler.conftest import StranglerStack, snappy

_PASSWORD = "correct-horse-battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_UPLOAD_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
_PHOTO_PAGE = re.compile(r"/photos/(\d+)$")
# The monolith's reference row of a user user-service owns (snappy_monolith.user_directory).
_REFERENCE_HASH = "!"
_VERIFY_TIMEOUT_SECONDS = 120
# No user has this id: a reference to it is an orphan.
_UNKNOWN_USER_ID = 987_654_321


def test_the_stack_announces_its_routing_and_serves_through_the_edge(strangler: StranglerStack) -> None:
    announced = strangler.output()
    assert f"Snappy (strangler, phase {strangler.phase}) is up at {strangler.edge_url}" in announced
    parts = strangler.description()["part_urls"]
    for group, owner in PHASES[strangler.phase].items():
        assert f"routing: {group.value}" in announced
        assert re.search(
            rf"routing: {re.escape(group.value)}\s+-> {owner} at {re.escape(parts[owner])}", announced
        )
    # Phase 4 retires the monolith's process; every other phase runs it.
    assert ("monolith" in parts) is (strangler.phase < 4)
    assert strangler.description()["strangler_phase"] == strangler.phase

    with httpx.Client(base_url=strangler.edge_url, timeout=15) as http:
        assert http.get("/readyz").status_code == 200
        landing = http.get("/")
        assert landing.status_code == 200
        assert "text/html" in landing.headers["Content-Type"]
        assert 'href="/signup"' in landing.text
        # The sample users signed up and uploaded through the edge in this phase.
        token = _api_token(http, "alice", DEMO_PASSWORD)
        photos = http.get("/api/v1/photos", headers=_bearer(token)).json()["items"]
        assert len(photos) == 4


def test_sign_up_log_in_and_upload_by_api_and_pages_land_in_the_owner_only(strangler: StranglerStack) -> None:
    suffix = secrets.token_hex(4)
    api_user, page_user = f"api_{suffix}", f"page_{suffix}"
    first_image, second_image = image_bytes("JPEG", (64, 48)), image_bytes("PNG", (40, 30))
    with (
        httpx.Client(base_url=strangler.edge_url, timeout=15) as api,
        httpx.Client(base_url=strangler.edge_url, timeout=15) as browser,
        httpx.Client(base_url=strangler.edge_url, timeout=15) as second_browser,
    ):
        # One user signs up through the API, the other through the sign-up page.
        created = api.post(
            "/api/v1/users", json={"username": api_user, "password": _PASSWORD, "display_name": "By API"}
        )
        assert created.status_code == 201, created.text
        _sign_up_on_the_page(second_browser, page_user)

        # The API user logs in on the page and uploads through it, then through the API.
        _log_in_on_the_page(browser, api_user)
        page_photo = _upload_on_the_page(browser, first_image, caption="from the page")
        token = _api_token(api, api_user, _PASSWORD)
        uploaded = api.post(
            "/api/v1/photos",
            headers=_bearer(token),
            files={"file": ("second.png", second_image, "image/png")},
            data={"caption": "from the API", "visibility": "public"},
        )
        assert uploaded.status_code == 201, uploaded.text
        api_photo = int(uploaded.json()["id"])

        # Both are visible through the edge: the API's list, the bytes, the pages.
        listed = api.get("/api/v1/photos", headers=_bearer(token)).json()["items"]
        assert {item["id"] for item in listed} == {page_photo, api_photo}
        assert all(item["owner"] == api_user for item in listed)
        assert api.get(f"/api/v1/photos/{page_photo}/content", headers=_bearer(token)).content == first_image
        assert api.get(f"/api/v1/photos/{api_photo}/content", headers=_bearer(token)).content == second_image
        my_photos = browser.get("/photos")
        assert my_photos.status_code == 200
        for photo_id in (page_photo, api_photo):
            assert f'data-photo-id="{photo_id}"' in my_photos.text
        detail = browser.get(f"/photos/{page_photo}")
        assert detail.status_code == 200
        assert "from the page" in detail.text
        assert browser.get(f"/photos/{page_photo}/image").content == first_image

        # A share from the page to the user who signed up on the page reaches their feed.
        _share_on_the_page(browser, page_photo, page_user)
        feed = second_browser.get("/")
        assert f'data-photo-id="{page_photo}"' in feed.text
        page_token = _api_token(api, page_user, _PASSWORD)
        shared = api.get("/api/v1/feed", headers=_bearer(page_token)).json()["items"]
        assert [item["id"] for item in shared] == [page_photo]

    _assert_users_landed_in_their_owner(strangler, [api_user, page_user])
    _assert_photos_landed_in_their_owner(strangler, [page_photo, api_photo])


@pytest.mark.parametrize("strangler", [1, 2, 3], indirect=True, ids=lambda phase: f"phase-{phase}")
def test_the_monolith_refuses_the_api_of_a_group_it_no_longer_owns(strangler: StranglerStack) -> None:
    monolith_url = strangler.description()["part_urls"]["monolith"]
    suffix = secrets.token_hex(4)
    with httpx.Client(base_url=monolith_url, timeout=15) as direct:
        refused = direct.post(
            "/api/v1/users", json={"username": f"direct_{suffix}", "password": _PASSWORD, "display_name": "D"}
        )
        assert refused.status_code == 421
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/misdirected-request")
        assert (
            direct.post("/api/v1/tokens", json={"username": "alice", "password": DEMO_PASSWORD}).status_code
            == 421
        )
        with httpx.Client(base_url=strangler.edge_url, timeout=15) as edge:
            token = _api_token(edge, "alice", DEMO_PASSWORD)
        photos = direct.get("/api/v1/photos", headers=_bearer(token))
        upload = direct.post(
            "/api/v1/photos", headers=_bearer(token), files={"file": ("x.jpg", image_bytes(), "image/jpeg")}
        )
    # Nothing was written: neither the refused user nor, from phase 2, a photo.
    assert strangler.query("monolith", "SELECT 1 FROM users WHERE username = %s", f"direct_{suffix}") == []
    if strangler.phase == 1:
        assert photos.status_code == 200  # photos are still the monolith's
        assert upload.status_code == 201
    else:
        assert photos.status_code == 421
        assert upload.status_code == 421
        assert strangler.query("monolith", "SELECT count(*) FROM photos")[0][0] == 0


@pytest.mark.parametrize("strangler", [1, 2, 3, 4], indirect=True, ids=lambda phase: f"phase-{phase}")
def test_verify_scoped_by_the_phase_passes_and_fails_on_a_corrupted_side(strangler: StranglerStack) -> None:
    synced = _snappy_migrate(strangler, "sync")
    assert synced.returncode == 0, synced.stdout
    passed = _snappy_migrate(strangler, "verify")
    assert passed.returncode == 0, passed.stdout
    assert f"phase     {strangler.phase}: the ownership the monolith's database records" in passed.stdout
    assert "Verification passed" in passed.stdout

    # At every phase: a share in photo-service naming a user user-service does not know.
    (share_id,) = strangler.query(
        "photo_service",
        "INSERT INTO shares (photo_id, user_id) SELECT min(id), %s FROM photos RETURNING id",
        _UNKNOWN_USER_ID,
    )[0]
    try:
        orphaned = _snappy_migrate(strangler, "verify")
    finally:
        strangler.query("photo_service", "DELETE FROM shares WHERE id = %s", share_id)
    assert orphaned.returncode == 1, orphaned.stdout
    assert f"missing users: {_UNKNOWN_USER_ID}" in orphaned.stdout
    assert "Verification FAILED" in orphaned.stdout

    if strangler.phase == 1:
        # user-service owns users: a display name that no longer matches the monolith's
        # reference row of alice (she uploaded through the monolith) is a difference too.
        alice_id, display_name = strangler.query(
            "user_service", "SELECT id, display_name FROM users WHERE username = 'alice'"
        )[0]
        rename = "UPDATE users SET display_name = %s WHERE id = %s"
        strangler.query("user_service", rename, "Someone else", alice_id)
        try:
            renamed = _snappy_migrate(strangler, "verify")
        finally:
            strangler.query("user_service", rename, display_name, alice_id)
        assert renamed.returncode == 1, renamed.stdout
        assert re.search(rf"changed ids: {alice_id}\b", renamed.stdout), renamed.stdout

    assert _snappy_migrate(strangler, "verify").returncode == 0


def _assert_users_landed_in_their_owner(stack: StranglerStack, usernames: list[str]) -> None:
    statement = "SELECT username, password_hash FROM users WHERE username = ANY(%s)"
    monolith = dict(stack.query("monolith", statement, usernames))
    if stack.phase == 0:
        # The monolith owns users: its rows hold the real password hashes.
        assert set(monolith) == set(usernames)
        assert all(hash_.startswith("$argon2") for hash_ in monolith.values())
        return
    owned = dict(stack.query("user_service", statement, usernames))
    assert set(owned) == set(usernames)
    assert all(hash_.startswith("$argon2") for hash_ in owned.values())
    # The monolith holds at most reference rows, which no password opens.
    assert set(monolith.values()) <= {_REFERENCE_HASH}
    if stack.phase == 1:
        # Their photos and shares name them there, through the foreign keys.
        assert set(monolith) == set(usernames)


def _assert_photos_landed_in_their_owner(stack: StranglerStack, photo_ids: list[int]) -> None:
    statement = "SELECT id FROM photos WHERE id = ANY(%s)"
    in_monolith = {row[0] for row in stack.query("monolith", statement, photo_ids)}
    if stack.phase <= 1:
        assert in_monolith == set(photo_ids)
        return
    in_service = {row[0] for row in stack.query("photo_service", statement, photo_ids)}
    assert in_service == set(photo_ids)
    assert in_monolith == set(), "the monolith's photos table took a write it does not own"


def _snappy_migrate(stack: StranglerStack, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*snappy(), "migrate", command],
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=_VERIFY_TIMEOUT_SECONDS,
        check=False,
    )


def _api_token(http: httpx.Client, username: str, password: str) -> str:
    answer = http.post("/api/v1/tokens", json={"username": username, "password": password})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csrf(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _sign_up_on_the_page(browser: httpx.Client, username: str) -> None:
    token = _csrf(browser.get("/signup").text)
    answer = browser.post(
        "/signup",
        data={"username": username, "display_name": "By page", "password": _PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302, answer.text
    assert browser.get("/photos").status_code == 200  # signed in: not sent to the log-in page


def _log_in_on_the_page(browser: httpx.Client, username: str) -> None:
    token = _csrf(browser.get("/login").text)
    answer = browser.post("/login", data={"username": username, "password": _PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.text


def _upload_on_the_page(browser: httpx.Client, data: bytes, *, caption: str) -> int:
    form = browser.get("/upload")
    assert form.status_code == 200, form.text
    key = _UPLOAD_KEY.search(form.text)
    assert key, "the upload form has no idempotency key"
    answer = browser.post(
        "/upload",
        data={"csrf_token": _csrf(form.text), "idempotency_key": key.group(1), "caption": caption},
        files={"file": ("photo.jpg", data, "image/jpeg")},
    )
    assert answer.status_code == 302, answer.text
    location = _PHOTO_PAGE.search(answer.headers["Location"])
    assert location, answer.headers["Location"]
    return int(location.group(1))


def _share_on_the_page(browser: httpx.Client, photo_id: int, username: str) -> None:
    page = browser.get(f"/photos/{photo_id}")
    answer = browser.post(
        f"/photos/{photo_id}/shares", data={"username": username, "csrf_token": _csrf(page.text)}
    )
    assert answer.status_code == 302, answer.text
    assert f'data-username="{username}"' in browser.get(f"/photos/{photo_id}").text
