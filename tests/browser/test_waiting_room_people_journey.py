"""Around the Waiting Room: the newcomer asks for access, the property manager sees who waits and
files the New User request in one click, pre-filled."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_a_newcomer_asks_for_access_and_the_property_manager_requests_it_in_one_click(journey, contoso):
    from outbox.models import OutboundEmail
    from support.models import NewUserRequest

    manager = contoso.member_add("pat.manager", first_name="Pat", last_name="Manager",
                                 access_level="property-manager", properties=("riverside-lofts",))
    newcomer = contoso.email("wes.waiting")

    # The newcomer signs in, lands in the Waiting Room and asks for access.
    visitor = journey.page()
    sign_in_with_sso(visitor, journey.server, contoso, newcomer, first_name="Wes", last_name="Waiting")
    expect(visitor.get_by_role("heading", name="You're in the Waiting Room")).to_be_visible()
    visitor.get_by_role("button", name="Ask for access").click()
    expect(visitor.get_by_role("status")).to_contain_text("We e-mailed 1 person at Contoso Living")
    expect(visitor.get_by_text("You asked for access on")).to_be_visible()
    journey.shot(visitor, "01-asked-for-access")
    journey.phone_shot(visitor, "01-asked-for-access")
    visitor.get_by_role("button", name="Ask again").click()
    expect(visitor.get_by_role("status")).to_contain_text("You asked already")
    assert OutboundEmail.objects.filter(kind="waiting_room.access_ask", to=[manager]).count() == 1

    # The property manager sees who waits, since when, and files the request in one click.
    page = journey.page()
    sign_in_with_sso(page, journey.server, contoso, manager, first_name="Pat", last_name="Manager")
    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting for access (1)"))
    expect(waiting).to_contain_text("Wes Waiting")
    expect(waiting).to_contain_text(newcomer)
    expect(waiting).to_contain_text("Waiting since")
    journey.shot(page, "02-waiting-for-access")
    journey.phone_shot(page, "02-waiting-for-access")
    waiting.get_by_role("link", name=f"New User request for {newcomer}").click()
    expect(page.get_by_role("heading", name="Manage Riverside Lofts")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value(newcomer)
    expect(page.get_by_label("First name")).to_have_value("Wes")
    expect(page.get_by_label("Surname")).to_have_value("Waiting")
    expect(page.get_by_text(re.compile("Filled in for Wes Waiting"))).to_be_visible()
    page.get_by_label("Access level").select_option(label="Technician")
    journey.shot(page, "03-pre-filled-new-user-form")
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_role("status")).to_contain_text(f"Your request for {newcomer} was sent to Portico support")
    expect(page.locator("section", has=page.get_by_role("heading", name="Waiting for access (1)"))
           ).to_contain_text("Request with support")

    # Back in the Waiting Room, the newcomer sees the request.
    visitor.reload()
    expect(visitor.get_by_text("Waiting for support")).to_be_visible()
    journey.phone_shot(visitor, "04-request-pending")
    assert NewUserRequest.objects.get(tenant=contoso.tenant, email=newcomer).status == "pending"

    # The property manager thinks better of it and withdraws the request: nobody's access changes,
    # and the newcomer sees who withdrew it and may ask again.
    from tenants.models import AuditEvent

    requests = page.locator("section", has=page.get_by_role("heading", name="Requests for this property"))
    requests.get_by_role("button", name=f"Withdraw the request for {newcomer}").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"You withdrew the request for {newcomer}. Nobody's access changed.")
    expect(page.locator("section", has=page.get_by_role("heading", name="Requests for this property"))
           ).to_contain_text("Withdrawn")
    journey.shot(page, "05-request-withdrawn")
    visitor.reload()
    expect(visitor.get_by_text("Pat Manager withdrew the request")).to_be_visible()
    expect(visitor.get_by_role("button", name=re.compile("^Ask"))).to_be_visible()
    journey.phone_shot(visitor, "05-request-withdrawn")
    assert NewUserRequest.objects.get(tenant=contoso.tenant, email=newcomer).status == "withdrawn"
    assert AuditEvent.objects.filter(tenant=contoso.tenant, action="new_user_request.withdraw", target=newcomer).exists()
