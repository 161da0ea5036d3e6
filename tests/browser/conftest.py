"""Browser journeys: headless Chromium against a live Portico on real PostgreSQL, Redis and Celery.

Everything here is package-scoped: one live server, one Chromium, and tenants of the suite's own
(unique slugs per run) with a running test IdP each. Package rather than session scope because the
live server needs the pytest-django DB blocker lifted for as long as it runs; scoping that to this
package gives it back to the rest of the suite as soon as the browser tests are done.

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/bootstrap.sh --tests); Playwright
never downloads a browser here. Screenshots land in artifacts/screenshots/ (git-ignored).
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
TIMEOUT_MS = 15_000
# No Internet on the test machines: without these Chromium keeps dialling Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
NO_CHROMIUM = (
    "\n" + "!" * 78 + "\n"
    "!! BROWSER JOURNEYS NOT RUN: no Chromium found (/usr/bin/chromium, chromium, chromium-browser).\n"
    "!! Install Debian's: `sudo apt-get install chromium` (scripts/bootstrap.sh --tests does it),\n"
    "!! or point PORTICO_CHROMIUM at a Chromium binary. Playwright's own download is never used.\n"
    + "!" * 78
)
PID = os.getpid()


# --- Chromium -----------------------------------------------------------------------------------

def chromium_executable() -> str | None:
    for candidate in (os.environ.get("PORTICO_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="package")
def chromium_path() -> str:
    path = chromium_executable()
    if path is None:
        if os.environ.get("CI"):  # a skip would turn CI green without the journeys
            pytest.fail(NO_CHROMIUM, pytrace=False)
        pytest.skip(NO_CHROMIUM)
    return path


@pytest.fixture(scope="package")
def browser(chromium_path, portal_server):
    """One headless Chromium for the package (torn down before the live server it talks to)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # Playwright's sync API runs the tests under its own context variables, so the DB connection
        # they used is only reachable from here; left open, it keeps DROP DATABASE waiting.
        connections.close_all()


# --- Live server --------------------------------------------------------------------------------

@dataclass
class LiveServer:
    port: int

    @property
    def central(self) -> str:
        return f"http://localhost:{self.port}"

    def tenant(self, tenant, path: str = "/") -> str:
        return f"http://{tenant.primary_host}:{self.port}{path}"


@pytest.fixture(scope="package")
def browser_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Committed, autocommit DB access for this package: the server thread and the Celery worker
    see what the fixtures create. The test database is dropped at the end of the run."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.fixture(scope="package")
def portal_server(browser_db) -> Iterator[LiveServer]:
    """Portico's WSGI app (with static files) on 127.0.0.1 and a free port, in a server thread.

    Not pytest-django's live_server: it forces transactional_db, whose flush would wipe the
    session tenants other modules rely on.
    """
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from django.test.utils import override_settings

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            if len(args) > 1 and str(args[1]).startswith("5"):
                super().log_message(format, *args)

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    port = server.server_port
    # Keep-alive connections keep their thread, and with CONN_MAX_AGE their DB connection, open
    # until Chromium lets go; closing DB connections after each request keeps DROP DATABASE at the
    # end of the run from waiting on them.
    db_settings = connections.settings["default"]
    max_age = db_settings.get("CONN_MAX_AGE")
    db_settings["CONN_MAX_AGE"] = 0
    overrides = override_settings(
        # sso.sp and the e-mails read these at call time: absolute URLs name the live port.
        PORTICO_BASE_URL=f"http://localhost:{port}",
        PORTICO_URL_PORT=port,
        PORTICO_URL_SCHEME="http",
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "localhost", ".localhost"],
        DEBUG=False,  # what a browser sees in production: never a technical error page
    )
    overrides.enable()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="portico-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(port=port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        overrides.disable()
        db_settings["CONN_MAX_AGE"] = max_age


# --- Tenants of the browser suite -----------------------------------------------------------------

@dataclass
class BrowserTenant:
    tenant: object
    domain: str  # its email domain
    idp: object | None  # testidp.server.RunningIdP
    properties: dict[str, object]  # code -> provisioning.models.Property

    @property
    def slug(self) -> str:
        return self.tenant.slug  # type: ignore[attr-defined]

    @property
    def schema(self) -> str:
        return self.tenant.schema_name  # type: ignore[attr-defined]

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"

    def member_add(self, local: str, *, first_name: str, last_name: str, access_level: str,
                   properties: tuple[str, ...] = ()):
        """A pre-provisioned, active member (the CLI's way in, not a journey step)."""
        from provisioning.services import member_add

        with schema_context(self.schema):
            member_add(tenant=self.tenant, email=self.email(local), first_name=first_name, last_name=last_name,
                       access_level=access_level, properties=[self.properties[c] for c in properties],
                       actor="browser-test-setup")
        return self.email(local)


_letters_used: set[str] = set()


def _browser_tenant(letter: str, name: str, *, properties: list[tuple[str, str]], configured: bool = True,
                    allow_idp_initiated: bool = False, brand_colour: str = "") -> BrowserTenant:
    from provisioning.services import property_create
    from sso.services import idp_configure_from_metadata, idp_options_update
    from tenants.models import EmailDomain, Tenant
    from tenants.services import tenant_create
    from testidp.idp import TestIdP
    from testidp.server import serve_in_thread

    slug = f"b{PID}{letter}"
    # One letter per tenant of the run: a clash would end in "Tenant … already exists" in setup.
    assert letter not in _letters_used, f"browser tenant letter {letter!r} is taken: pick another"
    _letters_used.add(letter)
    # A readable domain for the screenshots, unless an earlier run kept with --reuse-db holds it.
    domain = f"{name.split()[0].lower()}.example"
    if EmailDomain.objects.filter(domain__iexact=domain).exists():
        domain = f"{slug}.example"
    tenant = tenant_create(slug=slug, name=name, email_domains=[domain], actor="browser-test-setup")
    if brand_colour:
        Tenant.objects.filter(pk=tenant.pk).update(brand_colour=brand_colour)
        tenant.refresh_from_db()
    created = {}
    with schema_context(tenant.schema_name):
        for prop_name, code in properties:
            created[code] = property_create(name=prop_name, code=code, actor="browser-test-setup")
    idp = serve_in_thread(lambda url: TestIdP(url))
    if configured:
        provider = idp_configure_from_metadata(tenant=tenant, document=idp.idp.metadata_xml(),
                                               allow_idp_initiated=allow_idp_initiated, actor="browser-test-setup")
        # What the Client Administrator types as the button label; Entra's own metadata names no IdP.
        idp_options_update(idp=provider, display_name="Microsoft", actor="browser-test-setup")
    connection.set_schema_to_public()
    return BrowserTenant(tenant=tenant, domain=domain, idp=idp, properties=created)


@pytest.fixture(scope="package")
def northwind(browser_db) -> Iterator[BrowserTenant]:
    """The tenant of the new-user story and Team Members; IdP-initiated sign-in off (the default)."""
    bt = _browser_tenant("n", "Northwind Properties", brand_colour="#0f766e",
                         properties=[("Harbour View Apartments", "harbour-view"), ("Elm Court", "elm-court")])
    yield bt
    bt.idp.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="package")
def contoso(browser_db) -> Iterator[BrowserTenant]:
    """A tenant that allows IdP-initiated sign-in (Entra's "Test this application", My Apps)."""
    bt = _browser_tenant("c", "Contoso Living", allow_idp_initiated=True,
                         properties=[("Riverside Lofts", "riverside-lofts")])
    yield bt
    bt.idp.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="package")
def fabrikam(browser_db) -> Iterator[BrowserTenant]:
    """A new tenant whose Client Administrator has not connected an IdP yet; `.idp` is the one they will."""
    bt = _browser_tenant("f", "Fabrikam Residential", configured=False,
                         properties=[("Maple House", "maple-house")])
    yield bt
    bt.idp.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="package")
def support_staff(browser_db) -> dict:
    """A Portico support superuser in the public schema, for Django admin: username, password and
    `totp()`, which enrols a real TOTP authenticator for them and returns the code it shows now
    (a new one per sign-in, since each code works once)."""
    from django.contrib.auth import get_user_model

    from tests.conftest import staff_totp_enrol, totp_code

    credentials = {"username": f"support-{PID}", "password": f"Browser-{PID}-support!"}
    user = get_user_model().objects.create_superuser(email=f"support-{PID}@portico.example", **credentials)
    return {**credentials, "totp": lambda: totp_code(staff_totp_enrol(user))}


# --- Pages ----------------------------------------------------------------------------------------

# The innermost elements sticking out past the right edge, for a readable layout failure.
_WIDEST_ELEMENTS = """() => [...document.querySelectorAll("main *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 3)
  .map(e => `<${e.tagName.toLowerCase()}${e.className ? "." + e.className : ""}> `
            + (e.textContent || "").trim().slice(0, 50))"""

# Form controls a screen reader could not name: no <label>, no aria-label(ledby).
_UNLABELLED_CONTROLS = """() => [...document.querySelectorAll(
    "input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea")]
  .filter(e => e.offsetParent !== null)
  .filter(e => !e.labels.length && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
  .map(e => e.outerHTML.slice(0, 80))"""


class Journey:
    """Browser contexts of one test (one per person), screenshots, and the checks every page gets:
    no server error, no stack trace, no script error, no sideways scrolling on a phone.

    Problems that leave the journey walkable are collected and fail the test at its end, so one
    run reports all of them.
    """

    def __init__(self, browser, server: LiveServer, name: str) -> None:
        self.browser = browser
        self.server = server
        self.name = name
        self.contexts: list = []
        self.problems: list[str] = []

    def context(self, *, viewport: dict[str, int] = DESKTOP, **kwargs):
        ctx = self.browser.new_context(viewport=viewport, **kwargs)
        ctx.set_default_timeout(TIMEOUT_MS)
        origin = f":{self.server.port}/"

        def on_response(response) -> None:
            if response.status >= 500 and origin in response.url:
                self.problems.append(f"HTTP {response.status} from {response.url}")

        ctx.on("response", on_response)
        ctx.on("page", lambda page: page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}")))
        self.contexts.append(ctx)
        return ctx

    def page(self, **kwargs):
        return self.context(**kwargs).new_page()

    def shot(self, page, step: str, *, element=None) -> Path:
        """Save artifacts/screenshots/<test>-<step>.png (the full page, or just `element`), after
        checking the page shows no stack trace."""
        page.wait_for_load_state()
        text = page.content()
        assert "Traceback (most recent call last)" not in text, f"stack trace on {page.url}"
        if f":{self.server.port}/" in page.url and "/admin/" not in page.url:  # Portico's own pages
            unlabelled = page.evaluate(_UNLABELLED_CONTROLS)
            if unlabelled:
                self.problems.append(f"{page.url} has form controls without a label: {unlabelled}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{step}.png"
        if element is not None:
            element.screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=True)
        return path

    def phone_shot(self, page, step: str) -> Path:
        """The same page at phone width (390 px): screenshot, and no sideways scrolling (a page that
        scrolls sideways fails the test at its end, after the rest of the journey has run)."""
        before = page.viewport_size
        page.set_viewport_size(PHONE)
        try:
            path = self.shot(page, f"{step}-phone")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                self.problems.append(f"{page.url} scrolls sideways by {overflow}px at phone width ({path.name}); "
                                     f"too wide: {page.evaluate(_WIDEST_ELEMENTS)}")
            return path
        finally:
            page.set_viewport_size(before)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def journey(browser_db, browser, portal_server, request) -> Iterator[Journey]:
    name = re.sub(r"[^a-z0-9_-]+", "-", request.node.name.removeprefix("test_").lower())
    j = Journey(browser, portal_server, name)
    yield j
    j.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A journey that walked to its end still fails on the problems it collected on the way."""
    __tracebackhide__ = True
    result = yield
    journey = getattr(item, "funcargs", {}).get("journey")
    if journey is not None and journey.problems:
        raise AssertionError("the journey met problems:\n- " + "\n- ".join(journey.problems))
    return result
