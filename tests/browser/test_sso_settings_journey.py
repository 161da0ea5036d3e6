"""A new tenant's first Client Administrator connects their identity provider: support staff send a
set-up link from Django admin → the administrator opens it from the e-mail and lands on SSO settings
→ uploads the Federation Metadata XML (saved as a draft, after confirming the plain-http warning of
the local test IdP) → copies the Identifier, Reply URL and Sign-on URL → Test sign-in on the draft,
which explains a wrong certificate, a clock problem or a wrong Identifier in words, then succeeds →
Activate. The e-mail goes through the real Celery worker to a real SMTP server."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.steps import admin_sign_in, idp_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _test_sign_in(page, email: str, scenario: str):
    """Run a test sign-in from the settings page or a result page; returns the result card."""
    page.get_by_role("link", name=re.compile(r"^(Test sign-in on the draft|Test sign-in|Test again)$")).click()
    idp_sign_in(page, email, first_name="Ada", last_name="Admin", scenario=scenario)
    page.wait_for_url(re.compile(r"/sso/test/[A-Z0-9]+/$"))
    return page.locator("section.card").first


def test_client_admin_connects_the_identity_provider_and_tests_sign_in(
    journey, fabrikam, support_staff, celery_worker, smtp_sink, tmp_path,
):
    from sso.sp import sp_endpoints

    server = journey.server
    admin = fabrikam.email("ada.admin")

    # Before anything is connected, the sign-in page says so instead of failing somewhere later.
    visitor = journey.page()
    visitor.goto(server.tenant(fabrikam.tenant, "/login/"))
    visitor.get_by_label("Work email").fill(admin)
    visitor.get_by_role("button", name="Continue").click()
    expect(visitor.get_by_role("alert")).to_contain_text(f"Single sign-on isn't set up yet for {fabrikam.domain}")
    journey.shot(visitor, "01-sign-in-not-set-up")

    # Support staff send the customer's administrator a set-up link from the tenant's admin page.
    staff = journey.page(viewport={"width": 1600, "height": 900})
    admin_sign_in(staff, server, support_staff)
    staff.locator("tr.model-tenant").get_by_role("link", name="Tenants").click()
    staff.get_by_role("link", name=fabrikam.slug, exact=True).click()
    staff.get_by_role("link", name="Send set-up link").click()
    staff.get_by_label("E-mail address").fill(admin)
    staff.get_by_role("button", name="Send set-up link").click()
    expect(staff.get_by_role("status")).to_contain_text(f"Set-up link created for {admin}")
    expect(staff.get_by_role("status")).to_contain_text("on its way")
    journey.shot(staff, "02-admin-setup-link-sent")

    # The real worker e-mails the link; the administrator opens it in their own browser.
    received = smtp_sink.wait_for(admin)
    assert received, f"no set-up e-mail reached {admin}; worker log: {celery_worker.log_path}"
    assert received[0]["Subject"] == "Set up single sign-on for Fabrikam Residential on Portico"
    body = received[0].get_body(preferencelist=("plain",)).get_content()
    setup_url = re.search(r"http://\S+/setup/[A-Za-z0-9_-]+/", body).group(0)
    assert setup_url.startswith(server.tenant(fabrikam.tenant, "/setup/"))
    assert setup_url == staff.get_by_label("Set-up link").input_value()

    page = journey.page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.tenant(fabrikam.tenant, ""))
    page.goto(setup_url)
    expect(page.get_by_role("heading", name="Set up single sign-on for Fabrikam Residential")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"This set-up link is for {admin}")
    journey.shot(page, "03-setup-link")
    journey.phone_shot(page, "03-setup-link")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(server.tenant(fabrikam.tenant, "/sso/settings/"))
    expect(page.get_by_role("heading", name="Single sign-on", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("you are a Client Administrator of Fabrikam Residential")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage Account")).to_have_attribute(
        "aria-current", "true")
    expect(page.get_by_role("navigation", name="Manage Account").get_by_role("link", name="Single Sign-on")
           ).to_have_attribute("aria-current", "page")
    expect(page.locator("#idp")).to_contain_text("Not connected yet")
    journey.shot(page, "04-settings-not-connected")

    # The link worked once: opening it again says so and what to do.
    again = journey.page()
    again.goto(setup_url)
    expect(again.get_by_role("heading", name="This set-up link can't be used")).to_be_visible()
    expect(again.get_by_role("alert")).to_contain_text("used already")
    journey.shot(again, "05-setup-link-used")

    # Step 2: upload the metadata downloaded from the IdP.
    metadata = tmp_path / "Portico.xml"
    metadata.write_bytes(requests.get(f"{fabrikam.idp.base_url}/idp/metadata", timeout=10).content)
    page.get_by_label("Federation Metadata XML").set_input_files(metadata)
    page.get_by_role("button", name="Upload and save as draft").click()
    # The local test IdP's Login URL is plain http: said before anything is saved.
    expect(page.get_by_role("alert").filter(has_text="Check before saving")).to_contain_text("plain http")
    page.get_by_role("button", name="Save the draft anyway").click()
    expect(page.get_by_role("status")).to_contain_text(f"Draft saved: {fabrikam.idp.idp.entity_id}")
    expect(page.get_by_role("status")).to_contain_text("Nobody signs in through it until you activate it")
    expect(page.locator("#draft")).to_contain_text(fabrikam.idp.idp.entity_id)
    expect(page.locator("#draft")).to_contain_text("not tested yet")
    expect(page.locator("#draft").get_by_role("button", name="Activate")).to_be_disabled()

    # Step 1: the values for Entra, each with a copy button that really copies it.
    sp = sp_endpoints(host=fabrikam.tenant.primary_host)
    for label, value in (("Identifier (Entity ID)", sp.entity_id),
                         ("Reply URL (Assertion Consumer Service URL)", sp.acs_url),
                         ("Sign on URL", sp.sign_on_url), ("Logout Url (Optional)", sp.slo_url)):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_value(value)
        button = page.locator(".field", has=field).get_by_role("button")  # its name changes to "Copied"
        expect(button).to_have_text("Copy")
        button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == value
    journey.shot(page, "06-settings-connected")
    journey.shot(page, "06-values-for-entra", element=page.locator("#sp"))
    journey.phone_shot(page, "06-settings-connected")

    # Test sign-in: each misconfiguration is explained in words, not as a stack trace.
    result = _test_sign_in(page, admin, "wrong-key")
    expect(result.get_by_role("heading")).to_contain_text("Test sign-in found a problem")
    expect(result.get_by_test_id("diagnosis")).to_contain_text("signed with a certificate Portico does not trust")
    expect(result.get_by_test_id("diagnosis")).to_contain_text("re-import its metadata")
    journey.shot(page, "07-test-wrong-certificate")

    result = _test_sign_in(page, admin, "expired")
    expect(result.get_by_test_id("diagnosis")).to_contain_text("expired")
    expect(result.get_by_test_id("diagnosis")).to_contain_text("clocks")
    journey.shot(page, "08-test-clock-skew")

    result = _test_sign_in(page, admin, "wrong-audience")
    expect(result.get_by_test_id("diagnosis")).to_contain_text(re.compile("audience|Identifier", re.I))
    journey.shot(page, "09-test-audience-mismatch")

    result = _test_sign_in(page, admin, "ok")
    expect(result.get_by_role("heading")).to_contain_text("Test sign-in worked")
    expect(result).to_contain_text(f"Test sign-in against the draft connection succeeded for {admin}")
    expect(result).to_contain_text("Nobody was signed in or created by this test.")
    expect(page.locator("#claims")).to_contain_text(admin)
    expect(page.get_by_test_id("binding")).to_contain_text(admin)
    journey.shot(page, "10-test-success")

    # The first connection activates straight from the passing test.
    page.get_by_role("button", name="Activate the draft").click()
    expect(page.get_by_role("status")).to_contain_text(f"Activated: everyone now signs in through "
                                                       f"{fabrikam.idp.idp.entity_id}")
    expect(page.locator("#idp").get_by_text(re.compile(r"^Valid for \d+ days$"))).to_be_visible()

    # The attempts are listed with their reference codes.
    attempts = page.locator("table.attempts")
    expect(attempts.get_by_role("row")).to_have_count(5)  # header + four test sign-ins
    expect(attempts).to_contain_text("certificate_mismatch")
    journey.shot(page, "11-settings-recent-attempts")
    journey.shot(page, "11-recent-attempts", element=page.locator("#test"))
    journey.phone_shot(page, "11-settings-recent-attempts")
    attempts.get_by_role("link", name=re.compile("certificate Portico does not trust")).click()
    expect(page.get_by_role("heading", name=re.compile("^Sign-in attempt"))).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage Account")).to_have_attribute(
        "aria-current", "true")
    journey.shot(page, "12-attempt-detail")
