"""A Client Administrator adds an email domain, copies the DNS TXT record Portico shows, publishes it
(on the test run's own DNS server) and presses Verify now; a public mailbox domain is refused with its
reference."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_client_admin_adds_and_verifies_an_email_domain(journey, contoso, local_dns):
    from tenants.models import EmailDomain

    admin = contoso.member_add("cal.domains", first_name="Cal", last_name="Domains",
                               access_level="client-administrator")
    domain = f"contoso-{os.getpid()}.example"
    page = journey.page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=journey.server.tenant(contoso.tenant, ""))
    sign_in_with_sso(page, journey.server, contoso, admin, first_name="Cal", last_name="Domains")
    page.goto(journey.server.tenant(contoso.tenant, "/sso/settings/#domains"))
    section = page.locator("#domains")

    section.get_by_label("Email domain").fill("gmail.com")
    section.get_by_role("button", name="Add domain").click()
    expect(page.locator("#domains .errorlist").first).to_contain_text("reference DOMAIN-WEBMAIL")

    section.get_by_label("Email domain").fill(domain)
    section.get_by_role("button", name="Add domain").click()
    expect(section.get_by_role("status")).to_contain_text("Publish the DNS TXT record shown below")
    expect(section).to_contain_text("waiting for verification")
    token = EmailDomain.objects.get(domain=domain).verification_token
    name_field = section.get_by_label("Name (host)", exact=True)
    value_field = section.get_by_label("Value", exact=True)
    expect(name_field).to_have_value(f"_portico.{domain}")
    expect(value_field).to_have_value(f"portico-verification={token}")
    expect(section.get_by_role("button", name=f"Copy TXT record value for {domain}")).to_be_visible()
    copy = page.locator(f'button[data-copy="txt-value-{domain}"]')  # its name changes to "Copied"
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    journey.shot(page, "01-domain-waiting", element=section)

    section.get_by_role("button", name=f"Verify {domain} now").click()
    expect(section.get_by_role("status")).to_contain_text(f"No TXT record found at _portico.{domain} yet")

    local_dns.txt_set(f"_portico.{domain}", copied)  # what the customer pastes at their DNS provider
    page.locator("#domains").get_by_role("button", name=f"Verify {domain} now").click()
    expect(page.locator("#domains").get_by_role("status")).to_contain_text(f"Verified {domain}")
    expect(page.locator("#domains")).not_to_contain_text("waiting for verification")
    journey.shot(page, "02-domain-verified", element=page.locator("#domains"))
    journey.phone_shot(page, "02-domain-verified")
    EmailDomain.objects.filter(domain=domain).delete()  # the package's tenants outlive this test
