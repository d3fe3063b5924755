"""Visual parity: every page looks the same on the monolith and on the microservices' edge.

Headless Chromium renders each page at a fixed viewport (1280 x 800 CSS pixels, scale 1,
full page) through each version, the monolith and the microservices behind their edge,
both holding the same data: the same people (same usernames and display names), the same
photos (same bytes, captions, visibility, upload order) and the same shares, made through
each version's public API. The two screenshots are compared pixel by pixel; a page passes
when at most 0.1 % of its pixels differ (`MAX_DIFFERENT_FRACTION`).

Masked, because they must differ, and only these:

- the text of `<time>` elements (upload, share and join dates): it comes from each
  version's clock at the moment the data was made, a different moment on each version,
  and a different day when the set-up runs across midnight UTC. Each one's text is first
  checked to be a date as the pages write it (`01 Dec 2026`), then replaced by one fixed
  date, so the rest of the page (the username beside a share's date, say) stays compared
  and the layout around the date is the same on both versions.

Not masked, because they are invisible or identical by construction: CSRF tokens and the
upload form's idempotency key are hidden inputs; photo ids differ between versions (the
monolith is given one extra photo first, as tests/parity does) but only appear in URLs,
never in the rendered page; usernames carry the same random suffix on both versions.

Rendering is made deterministic: both versions are shot by one Chromium, with font hinting
off, greyscale anti-aliasing (no LCD subpixel text), an sRGB colour profile, animations
stopped, the caret hidden, scrollbars hidden, lazy images loaded and decoded and web
fonts settled before each shot.

A page that fails saves both screenshots and their difference image (differing pixels in
red over a faded copy of the monolith's) under `artifacts/visual-parity/` at the
repository's root (SNAPPY_VISUAL_ARTIFACTS overrides), and the failure names the folder;
with SNAPPY_VISUAL_KEEP=1 every page's are kept, to look at.

The degraded page is what a visitor gets when logging in while the part that keeps users
does not answer: web-ui's page when user-service is down, the monolith's when its database
is. Each is shot through a version started for it (a second web-ui with a second edge in
front; a second monolith whose database is behind a fault proxy).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, BrowserContext, Page, Playwright
from sqlalchemy.engine import make_url

from snappy_devstack.backing import BackingServices
from snappy_devstack.processes import LOOPBACK, free_ports
from snappy_topology import EDGE_PHASE, PartName, url_setting
from tests.images import image_bytes
from tests.support.browser import CHROMIUM_ARGS, require_chromium
from tests.support.dependency_faults import through
from tests.support.faults import FaultProxy
from tests.support.gunicorn import STOP_GRACE_SECONDS, launch_gunicorn, spawn_monolith, wait_until_ready
from tests.support.live import LiveMicroservices, LiveMonolith
from tests.support.session import REPOSITORY_ROOT

pytestmark = pytest.mark.live

VIEWPORT = {"width": 1280, "height": 800}
# The gate: the share of a page's pixels that may differ between the two versions.
MAX_DIFFERENT_FRACTION = 0.001
ARTIFACTS_VARIABLE = "SNAPPY_VISUAL_ARTIFACTS"
# Set to 1 to keep every page's screenshots, not only the failing ones', to look at them.
KEEP_VARIABLE = "SNAPPY_VISUAL_KEEP"
DEFAULT_ARTIFACTS = REPOSITORY_ROOT / "artifacts" / "visual-parity"
# Deterministic text and colour: the same glyph rasterization on every run and machine.
DETERMINISTIC_RENDERING_ARGS = [
    "--font-render-hinting=none",
    "--disable-lcd-text",
    "--disable-font-subpixel-positioning",
    "--force-color-profile=srgb",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--disable-skia-runtime-opts",
]
# What replaces the text of every <time> element, once it was checked to be a date as written.
MASKED_DATE = "01 Jan 2000"
DATE_AS_WRITTEN = re.compile(r"\d{2} [A-Z][a-z]{2} \d{4}")
PASSWORD = "visual-parity-password"
VERSIONS = ("monolith", "microservices")
# Stops transitions and animations, and the caret, whatever Playwright's own options miss.
_STILL_PAGE_CSS = """
*, *::before, *::after {
  transition: none !important; animation: none !important; caret-color: transparent !important;
}
"""
# Masks the dates (returning what they said), loads every lazy image now and waits until
# each is decoded, and for the fonts; names any stylesheet or image that did not load.
_SETTLE_SCRIPT = """
async (maskedDate) => {
  const dates = [];
  for (const time of document.querySelectorAll("time")) {
    dates.push(time.textContent);
    time.textContent = maskedDate;
  }
  for (const image of document.images) { image.loading = "eager"; }
  await Promise.all(Array.from(document.images).map(image =>
    image.complete ? Promise.resolve() : new Promise(done => { image.onload = image.onerror = done; })));
  await Promise.all(Array.from(document.images).map(image => image.decode().catch(() => undefined)));
  await document.fonts.ready;
  const unstyled = Array.from(document.querySelectorAll("link[rel=stylesheet]"))
    .filter(link => !link.sheet || link.sheet.cssRules.length === 0).map(link => link.href);
  const broken = Array.from(document.images)
    .filter(image => image.naturalWidth === 0).map(image => image.src);
  return {dates, unstyled, broken};
}
"""


@dataclass(frozen=True)
class Person:
    """Someone with an account on both versions."""

    username: str
    display_name: str


@dataclass(frozen=True)
class SiteData:
    """What one version holds for the test: the viewer, a friend and the viewer's public photo."""

    viewer: Person
    friend: Person
    public_photo_id: int


@dataclass(frozen=True)
class Comparison:
    """Two screenshots of one page, and how much they differ."""

    different_pixels: int
    total_pixels: int
    difference: Image.Image

    @property
    def fraction(self) -> float:
        return self.different_pixels / self.total_pixels


def compare(expected: Image.Image, actual: Image.Image) -> Comparison:
    """Pixel-by-pixel comparison; pixels outside the smaller image count as different."""
    width, height = max(expected.width, actual.width), max(expected.height, actual.height)
    canvas_expected = Image.new("RGB", (width, height), (0, 0, 0))
    canvas_actual = Image.new("RGB", (width, height), (255, 255, 255))
    canvas_expected.paste(expected.convert("RGB"))
    canvas_actual.paste(actual.convert("RGB"))
    # Any channel that differs at all makes the pixel different (a grey conversion would round
    # a difference of one in one channel away).
    red, green, blue = ImageChops.difference(canvas_expected, canvas_actual).split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    changed = largest.point(lambda value: 255 if value else 0)
    different_pixels = changed.histogram()[255]
    faded = Image.blend(canvas_expected, Image.new("RGB", (width, height), (255, 255, 255)), 0.7)
    difference = Image.composite(Image.new("RGB", (width, height), (255, 0, 0)), faded, changed)
    return Comparison(different_pixels, width * height, difference)


def test_a_comparison_counts_every_pixel_that_differs() -> None:
    base = Image.new("RGB", (100, 50), (250, 250, 250))
    one_off = base.copy()
    one_off.putpixel((3, 4), (250, 250, 251))
    taller = Image.new("RGB", (100, 60), (250, 250, 250))

    assert compare(base, base.copy()).different_pixels == 0
    assert compare(base, one_off).different_pixels == 1
    assert compare(base, taller).different_pixels == 100 * 10
    assert compare(base, taller).total_pixels == 100 * 60


def artifacts_folder() -> Path:
    """Where failing pages' screenshots go (CI keeps this folder)."""
    configured = os.environ.get(ARTIFACTS_VARIABLE, "").strip()
    return Path(configured) if configured else DEFAULT_ARTIFACTS


def settle_and_shoot(page: Page) -> Image.Image:
    """A full-page screenshot once the page is still: dates masked, images decoded, fonts loaded."""
    settled: dict[str, list[str]] = page.evaluate(_SETTLE_SCRIPT, MASKED_DATE)
    # Two unstyled pages, or two broken images, would look alike: each must have loaded.
    assert settled["unstyled"] == [], f"{page.url}: stylesheets not applied"
    assert settled["broken"] == [], f"{page.url}: images that did not load"
    assert [date for date in settled["dates"] if not DATE_AS_WRITTEN.fullmatch(date)] == [], page.url
    png = page.screenshot(
        full_page=True,
        animations="disabled",
        caret="hide",
        scale="css",
        # Applied by the browser for the shot itself, so the pages' CSP (style-src 'self') allows it.
        style=_STILL_PAGE_CSS,
    )
    return Image.open(BytesIO(png)).convert("RGB")


def save_shots(name: str, shots: dict[str, Image.Image], comparison: Comparison) -> Path:
    """Both screenshots of page `name` and their difference image, in the artefacts folder."""
    folder = artifacts_folder() / name
    folder.mkdir(parents=True, exist_ok=True)
    for version, shot in shots.items():
        shot.save(folder / f"{version}.png")
    comparison.difference.save(folder / "difference.png")
    return folder


def assert_same_look(name: str, shots: dict[str, Image.Image]) -> None:
    """The gate; a failing page (every page, with SNAPPY_VISUAL_KEEP=1) leaves its screenshots behind."""
    comparison = compare(shots["monolith"], shots["microservices"])
    passed = comparison.fraction <= MAX_DIFFERENT_FRACTION
    if passed and os.environ.get(KEEP_VARIABLE) != "1":
        return
    folder = save_shots(name, shots, comparison)
    if passed:
        return
    pytest.fail(
        f"{name}: {comparison.different_pixels} of {comparison.total_pixels} pixels differ "
        f"({comparison.fraction:.3%}, at most {MAX_DIFFERENT_FRACTION:.1%} allowed); "
        f"screenshots and their difference in {folder}"
    )


@pytest.fixture(scope="module")
def visual_browser(playwright: Playwright) -> Iterator[Browser]:
    """A Chromium that renders the same page to the same pixels every time."""
    executable = require_chromium()
    chromium = playwright.chromium.launch(
        executable_path=executable, args=[*CHROMIUM_ARGS, *DETERMINISTIC_RENDERING_ARGS]
    )
    yield chromium
    chromium.close()


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        device_scale_factor=1,
        locale="en-GB",
        timezone_id="UTC",
        color_scheme="light",
        reduced_motion="reduce",
    )
    context.set_default_timeout(15_000)
    return context


def api_sign_up(http: httpx.Client, person: Person) -> str:
    """Create `person`'s account through the API; their access token."""
    created = http.post(
        "/api/v1/users",
        json={"username": person.username, "password": PASSWORD, "display_name": person.display_name},
    )
    assert created.status_code == 201, created.text
    tokens = http.post("/api/v1/tokens", json={"username": person.username, "password": PASSWORD})
    assert tokens.status_code == 201, tokens.text
    token: str = tokens.json()["access_token"]
    return token


def api_upload(
    http: httpx.Client, token: str, colour: tuple[int, int, int], caption: str, visibility: str
) -> int:
    uploaded = http.post(
        "/api/v1/photos",
        headers={"Authorization": f"Bearer {token}"},
        data={"caption": caption, "visibility": visibility},
        files={"file": ("photo.jpg", image_bytes(size=(480, 320), color=colour), "image/jpeg")},
    )
    assert uploaded.status_code == 201, uploaded.text
    photo_id: int = uploaded.json()["id"]
    return photo_id


def api_share(http: httpx.Client, token: str, photo_id: int, username: str) -> None:
    shared = http.post(
        f"/api/v1/photos/{photo_id}/shares",
        headers={"Authorization": f"Bearer {token}"},
        json={"username": username},
    )
    assert shared.status_code == 201, shared.text


def make_site_data(base_url: str, suffix: str, *, offset_ids: bool) -> SiteData:
    """The same people, photos and shares on the version at `base_url`."""
    viewer = Person(f"vera_{suffix}", "Vera Lindqvist")
    friend = Person(f"omar_{suffix}", "Omar Haddad")
    with httpx.Client(base_url=base_url, timeout=30) as http:
        if offset_ids:
            # Ids that differ between the versions, as they do after any real use.
            offset_token = api_sign_up(http, Person(f"offset_{suffix}", "Offset"))
            api_upload(http, offset_token, (10, 10, 10), "", "private")
        viewer_token = api_sign_up(http, viewer)
        friend_token = api_sign_up(http, friend)
        api_upload(http, viewer_token, (40, 110, 180), "Kitchen table, before breakfast", "private")
        public_photo_id = api_upload(http, viewer_token, (200, 80, 40), "Harbour at dawn", "public")
        api_share(http, viewer_token, public_photo_id, friend.username)
        friends_photo = api_upload(http, friend_token, (60, 160, 90), "Mountain path in May", "private")
        api_share(http, friend_token, friends_photo, viewer.username)
    return SiteData(viewer, friend, public_photo_id)


def log_in(page: Page, person: Person) -> None:
    page.goto("/login")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(person.username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Log in").click()
    page.get_by_test_id("current-user").wait_for()
    # The welcome flash shows once, here; the pages shot next have none.
    page.goto("/photos")


# Each page by name: where a visitor finds it, or how the signed-in viewer reaches it.
PageVisit = Callable[[SiteData], str]
VISITOR_PAGES: dict[str, str] = {
    "home": "/",
    "sign-up": "/signup",
    "log-in": "/login",
    "not-found": "/no-such-page",
}
VIEWER_PAGES: dict[str, PageVisit] = {
    "feed": lambda data: "/",
    "my-photos": lambda data: "/photos",
    "upload": lambda data: "/upload",
    "photo-detail": lambda data: f"/photos/{data.public_photo_id}",
    "profile": lambda data: f"/users/{data.viewer.username}",
}


@pytest.fixture(scope="module")
def site_urls(live_monolith: LiveMonolith, live_microservices: LiveMicroservices) -> dict[str, str]:
    return {"monolith": live_monolith.base_url, "microservices": live_microservices.edge_url}


@pytest.fixture(scope="module")
def shots(visual_browser: Browser, site_urls: dict[str, str]) -> dict[str, dict[str, Image.Image]]:
    """Every page, shot on each version holding the same data: page name -> version -> screenshot."""
    suffix = secrets.token_hex(3)
    taken: dict[str, dict[str, Image.Image]] = {}
    for version in VERSIONS:
        base_url = site_urls[version]
        data = make_site_data(base_url, suffix, offset_ids=version == "monolith")
        visitor = new_context(visual_browser, base_url)
        viewer = new_context(visual_browser, base_url)
        try:
            page = visitor.new_page()
            for name, path in VISITOR_PAGES.items():
                page.goto(path)
                taken.setdefault(name, {})[version] = settle_and_shoot(page)
            page = viewer.new_page()
            log_in(page, data.viewer)
            for name, visit in VIEWER_PAGES.items():
                page.goto(visit(data))
                taken.setdefault(name, {})[version] = settle_and_shoot(page)
        finally:
            visitor.close()
            viewer.close()
    return taken


@pytest.mark.parametrize("name", [*VISITOR_PAGES, *VIEWER_PAGES])
def test_the_page_looks_the_same_on_both_versions(
    shots: dict[str, dict[str, Image.Image]], name: str
) -> None:
    assert_same_look(name, shots[name])


@pytest.fixture(scope="module")
def degraded_urls(
    backing: BackingServices,
    live_monolith: LiveMonolith,
    live_microservices: LiveMicroservices,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[str, Callable[[], None]]]]:
    """Each version where the part keeping users can be made to stop answering.

    Version -> (its URL, what takes the users' part away): a second monolith whose database
    is behind a fault proxy, and a second web-ui (behind an edge of its own) whose
    user-service is. Both proxies pass until the test refuses them.
    """
    folder = tmp_path_factory.mktemp("degraded")
    processes: list[subprocess.Popen[bytes]] = []
    user_service = urlsplit(live_microservices.user_service_url)
    with (
        FaultProxy(_database_address(live_monolith.database_url)) as database,
        FaultProxy((user_service.hostname or LOOPBACK, user_service.port or 80)) as users,
    ):
        try:
            monolith_environment = {
                **live_monolith.environment,
                "SNAPPY_DATABASE_URL": through(live_monolith.database_url, database),
            }
            monolith_process, monolith_url = spawn_monolith(monolith_environment, folder / "monolith.log")
            processes.append(monolith_process)
            [web_ui_port, edge_port] = free_ports(2)
            web_ui_environment = {
                **live_microservices.environment_of(PartName.WEB_UI, backing, web_ui_port),
                url_setting(PartName.USER_SERVICE): f"http://{users.host}:{users.port}",
            }
            web_ui_url = start_part("snappy_web_ui", web_ui_environment, web_ui_port, folder, processes)
            edge_environment = {
                **live_microservices.environment_of(PartName.EDGE, backing, edge_port),
                EDGE_PHASE: "3",
                url_setting(PartName.WEB_UI): web_ui_url,
            }
            edge_url = start_part("snappy_edge", edge_environment, edge_port, folder, processes)
            yield {"monolith": (monolith_url, database.refuse), "microservices": (edge_url, users.refuse)}
        finally:
            # Stores that answer again let the parts close their connections and stop at once.
            database.pass_through()
            users.pass_through()
            for process in reversed(processes):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=STOP_GRACE_SECONDS)


def start_part(
    package: str,
    environment: dict[str, str],
    port: int,
    folder: Path,
    processes: list[subprocess.Popen[bytes]],
) -> str:
    """Start `package` under gunicorn on `port`, add it to `processes`; its URL once ready."""
    log_path = folder / f"{package}.log"
    process = launch_gunicorn(package, environment, port, log_path)
    processes.append(process)
    url = f"http://{LOOPBACK}:{port}"
    wait_until_ready(url, process, log_path)
    return url


def _database_address(database_url: str) -> tuple[str, int]:
    url = make_url(database_url)
    return url.host or LOOPBACK, url.port or 5432


def test_the_degraded_page_looks_the_same_on_both_versions(
    visual_browser: Browser, degraded_urls: dict[str, tuple[str, Callable[[], None]]]
) -> None:
    shots: dict[str, Image.Image] = {}
    statuses: dict[str, int] = {}
    for version in VERSIONS:
        base_url, take_users_away = degraded_urls[version]
        context = new_context(visual_browser, base_url)
        try:
            page = context.new_page()
            page.goto("/login")
            take_users_away()
            form = page.get_by_test_id("login-form")
            form.get_by_label("Username").fill("someone")
            form.get_by_label("Password").fill(PASSWORD)
            with page.expect_navigation() as navigation:
                form.get_by_role("button", name="Log in").click()
            response = navigation.value
            statuses[version] = response.status if response is not None else 0
            shots[version] = settle_and_shoot(page)
        finally:
            context.close()

    assert statuses == {"monolith": 503, "microservices": 503}
    assert_same_look("degraded", shots)
