"""Steps several journeys share: what a person does on the sign-in page and at the test IdP."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserTenant, LiveServer


def idp_sign_in(page: Page, email: str, *, first_name: str = "Test", last_name: str = "User", scenario: str = "ok",
                before_submit: Callable[[], object] | None = None) -> None:
    """On the test IdP's sign-in page: fill in who signs in and press Sign in."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("First name").fill(first_name)
    page.get_by_label("Last name").fill(last_name)
    page.get_by_label("Scenario").select_option(scenario)
    if before_submit:
        before_submit()
    page.get_by_role("button", name="Sign in").click()


def email_first(page: Page, start_url: str, email: str) -> None:
    """The email-first page: type the work email and Continue, up to the IdP's button."""
    page.goto(start_url)
    page.get_by_label("Work email").fill(email)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("link", name="Log In with Microsoft")).to_be_visible()


def sign_in_with_sso(page: Page, server: LiveServer, bt: BrowserTenant, email: str, *, first_name: str = "Test",
                     last_name: str = "User") -> None:
    """The whole SP-initiated sign-in, from the tenant's sign-in page back to Portico."""
    email_first(page, server.tenant(bt.tenant, "/login/"), email)
    page.get_by_role("link", name="Log In with Microsoft").click()
    idp_sign_in(page, email, first_name=first_name, last_name=last_name)
    page.wait_for_url(re.compile(rf"^http://{re.escape(bt.tenant.primary_host)}:{server.port}/"))


def admin_sign_in(page: Page, server: LiveServer, staff: dict) -> None:
    """Support staff sign in to Django admin on the central host: password, then the code of
    their authenticator (the second factor), enrolled before the sign-in starts."""
    code = staff["totp"]()
    page.goto(f"{server.central}/admin/")
    page.get_by_label("Username").fill(staff["username"])
    page.get_by_label("Password").fill(staff["password"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r".*/admin/$"))
