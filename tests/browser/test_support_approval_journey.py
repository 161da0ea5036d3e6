"""Support staff approve a New User request in Django admin; the new user is e-mailed, signs in
again and reaches the portal home. The e-mail goes through the real Celery worker to a real
SMTP server."""
from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.steps import admin_sign_in, email_first, idp_sign_in, sign_in_with_sso

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _request_access_for(northwind, *, manager: str, email: str):
    """What a Property Manager's New User form does (its own journey: test_property_manager_journey)."""
    from django.contrib.auth import get_user_model

    from support.services import new_user_request_create

    with schema_context(northwind.schema):
        requester = get_user_model().objects.get(username=manager)
        return new_user_request_create(tenant=northwind.tenant, requester=requester, email=email, first_name="Wes",
                                       last_name="Waiting", access_level="technician",
                                       properties=[northwind.properties["harbour-view"]],
                                       from_property=northwind.properties["harbour-view"])


def test_support_approves_a_request_in_admin_and_the_new_user_signs_in_to_the_portal(
    journey, northwind, support_staff, celery_worker, smtp_sink,
):
    server = journey.server
    manager = northwind.member_add("pete.manager", first_name="Pete", last_name="Manager",
                                   access_level="property-manager", properties=("harbour-view",))
    newcomer = northwind.email("wes.waiting")

    # The newcomer signs in and waits; their Property Manager asks for access for them.
    wes = journey.page()
    sign_in_with_sso(wes, server, northwind, newcomer, first_name="Wes", last_name="Waiting")
    expect(wes.get_by_role("heading", name="You're in the Waiting Room")).to_be_visible()
    _request_access_for(northwind, manager=manager, email=newcomer)
    wes.get_by_role("link", name="Check again").click()
    expect(wes.get_by_text("Waiting for support")).to_be_visible()
    journey.shot(wes, "01-waiting-room-request-pending")

    # Support staff: Django admin on the central host, the request queue, approve.
    staff = journey.page(viewport={"width": 1600, "height": 900})
    admin_sign_in(staff, server, support_staff)
    inbox = staff.locator("#support-inbox")
    expect(inbox).to_contain_text("New User request")
    expect(inbox).to_contain_text("waiting for a decision")
    journey.shot(staff, "02-admin-index-inbox")
    inbox.get_by_role("link").click()
    expect(staff.get_by_role("heading", name="Support inbox: New User requests")).to_be_visible()
    by_status = staff.locator('#changelist-filter details[data-filter-title="status"]')
    expect(by_status.locator("li.selected")).to_have_text("Pending")  # the queue opens on what waits
    row = staff.get_by_role("row").filter(has_text=newcomer)
    expect(row).to_contain_text("Pending")
    expect(row).to_contain_text("Harbour View Apartments")
    expect(row).to_contain_text("Technician")
    expect(row).to_contain_text("Pete Manager")
    expect(row).to_contain_text("Yes, in the Waiting Room")
    journey.shot(staff, "02-admin-request-queue")
    row.get_by_role("checkbox").check()
    staff.get_by_role("combobox", name="Action").select_option(label="Approve selected New User requests…")
    staff.get_by_role("button", name="Go").click()
    # The confirmation says in words what approving changes.
    expect(staff.get_by_text(f"{newcomer} leaves the Waiting Room", exact=False)).to_be_visible()
    expect(staff.get_by_text("They get Technician access.")).to_be_visible()
    journey.shot(staff, "02-admin-approve-confirmation")
    staff.get_by_role("button", name="Approve 1 request").click()
    expect(staff.locator(".messagelist")).to_contain_text("Approved 1 request")
    expect(row).to_have_count(0)  # gone from the pending queue
    by_status.get_by_role("link", name="Approved").click()
    expect(row).to_contain_text("Approved")
    journey.shot(staff, "03-admin-approved")
    by_status.get_by_role("link", name="All").click()
    expect(by_status.locator("li.selected")).to_have_text("All")
    expect(row).to_contain_text("Approved")
    row.get_by_role("link", name=newcomer).click()
    expect(staff.get_by_role("button", name="Undo approval")).to_be_visible()
    expect(staff.locator(".field-decision_summary")).to_contain_text("Waiting Room → Active")
    expect(staff.locator(".field-audit_trail")).to_contain_text("New User request approved")
    journey.shot(staff, "03-admin-request-decided")

    # The worker sends the e-mails: to the new user (with the sign-on URL) and to the requester.
    granted = smtp_sink.wait_for(newcomer)
    assert granted, f"no e-mail reached {newcomer}; worker log: {celery_worker.log_path}"
    assert granted[0]["Subject"] == "You can now sign in to Northwind Properties on Portico"
    body = granted[0].get_body(preferencelist=("plain",)).get_content()
    assert "Technician access" in body and "Harbour View Apartments" in body
    sign_on_url = re.search(r"http://\S+/login/", body).group(0)
    assert sign_on_url == server.tenant(northwind.tenant, "/login/")
    assert smtp_sink.wait_for(manager), "the requester was not told of the approval"

    # The new user follows the e-mail's link in a new browser session and gets straight in.
    wes_again = journey.page()
    email_first(wes_again, sign_on_url, newcomer)
    wes_again.get_by_role("link", name="Log In with Microsoft").click()
    idp_sign_in(wes_again, newcomer, first_name="Wes", last_name="Waiting")
    wes_again.wait_for_url(server.tenant(northwind.tenant, "/"))
    expect(wes_again.get_by_role("heading", name="Welcome, Wes")).to_be_visible()
    access = wes_again.locator("section", has=wes_again.get_by_role("heading", name="Your access"))
    expect(access).to_contain_text("You have Technician access at Northwind Properties")
    properties = wes_again.locator("section", has=wes_again.get_by_role("heading", name="Your properties"))
    expect(properties.get_by_role("heading", name="Harbour View Apartments")).to_be_visible()
    expect(properties.get_by_role("link", name=re.compile("Manage"))).to_have_count(0)  # technicians don't manage
    journey.shot(wes_again, "04-portal-home")
    journey.phone_shot(wes_again, "04-portal-home")
