"""A Property Manager asks for a new user: sign in → the property's Manage page → New User form."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_property_manager_requests_a_new_user_from_the_manage_page(journey, northwind):
    from support.models import NewUserRequest

    manager = northwind.member_add("paula.manager", first_name="Paula", last_name="Manager",
                                   access_level="property-manager", properties=("harbour-view",))
    newcomer = northwind.email("tom.technician")
    page = journey.page()

    sign_in_with_sso(page, journey.server, northwind, manager, first_name="Paula", last_name="Manager")
    expect(page.get_by_role("heading", name="Welcome, Paula")).to_be_visible()
    expect(page.get_by_text("Property Manager").first).to_be_visible()
    journey.shot(page, "01-home")

    page.get_by_role("link", name="Manage Harbour View Apartments").click()
    expect(page.get_by_role("heading", name="Manage Harbour View Apartments")).to_be_visible()
    expect(page.get_by_role("heading", name="New User")).to_be_visible()
    expect(page.get_by_label("Harbour View Apartments")).to_be_checked()
    journey.shot(page, "02-manage")

    # An address outside the organisation: the form says so next to the field, keeping what was typed.
    page.get_by_label("Email address").fill("tom.technician@gmail.example")
    page.get_by_label("First name").fill("Tom")
    page.get_by_label("Surname").fill("Technician")
    page.get_by_label("Access level").select_option(label="Technician")
    page.get_by_role("button", name="Send request").click()
    # Every problem at once, in a summary that takes the focus and links to each field.
    email_field = page.locator(".field", has=page.get_by_label("Email address"))
    expect(email_field.locator(".errorlist")).to_contain_text(f"Use an address ending in @{northwind.domain}")
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name=re.compile(f"Use an address ending in @{northwind.domain}"))).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Tom")
    page.get_by_label("Harbour View Apartments").uncheck()
    page.get_by_role("button", name="Send request").click()
    expect(summary.get_by_role("link")).to_have_count(2)
    summary.get_by_role("link", name="Choose at least one property.").click()
    expect(page.get_by_label("Harbour View Apartments")).to_be_focused()
    page.get_by_label("Harbour View Apartments").check()
    journey.shot(page, "03-validation-error")
    journey.phone_shot(page, "03-validation-error")

    page.get_by_label("Email address").fill(newcomer)
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_role("status")).to_contain_text(f"Your request for {newcomer} was sent to Portico support")
    requests = page.locator("section", has=page.get_by_role("heading", name="Requests for this property"))
    row = requests.get_by_role("row").filter(has_text=newcomer)
    expect(row).to_contain_text("Technician")
    expect(row).to_contain_text("Waiting for support")
    journey.shot(page, "04-confirmation")
    journey.phone_shot(page, "04-confirmation")  # with the requests table filled in

    request = NewUserRequest.objects.get(tenant=northwind.tenant, email=newcomer)
    assert (request.status, request.access_level, request.requested_by_email) == ("pending", "technician", manager)
    assert [p["code"] for p in request.properties] == ["harbour-view"]
