"""A Client Administrator's Team Members page: add a member, change their access level, remove them."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_client_admin_adds_a_team_member_changes_their_access_and_removes_them(journey, northwind):
    from provisioning.models import Membership

    admin = northwind.member_add("carla.admin", first_name="Carla", last_name="Admin",
                                 access_level="client-administrator")
    member = northwind.email("mo.member")
    page = journey.page()

    sign_in_with_sso(page, journey.server, northwind, admin, first_name="Carla", last_name="Admin")
    expect(page.get_by_text("You have Client Administrator access")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Team Members").click()
    expect(page.get_by_role("heading", name="Team Members", exact=True)).to_be_visible()

    # Add: takes effect at their first sign-in, no support approval needed.
    form = page.locator("section", has=page.get_by_role("heading", name="Add team member"))
    form.get_by_label("Email address").fill(member)
    form.get_by_label("First name").fill("Mo")
    form.get_by_label("Surname").fill("Member")
    form.get_by_label("Access level").select_option(label="Technician")
    form.get_by_label("Elm Court").check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text(f"{member} can now sign in with single sign-on")
    row = page.get_by_role("row").filter(has_text=member)
    expect(row).to_contain_text("Technician")
    expect(row).to_contain_text("Elm Court")
    expect(row).to_contain_text("Not signed in yet")
    journey.shot(page, "01-member-added")
    journey.phone_shot(page, "01-member-added")

    # Change their access level.
    row.get_by_role("link", name=f"Change access of {member}").click()
    expect(page.get_by_role("heading", name="Mo Member")).to_be_visible()
    expect(page.get_by_label("Access level")).to_have_value("technician")
    page.get_by_label("Access level").select_option(label="Property Manager")
    journey.shot(page, "02-change-access")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(f"Access of {member} updated.")
    expect(row).to_contain_text("Property Manager")

    # Remove them, confirming first.
    row.get_by_role("link", name=f"Change access of {member}").click()
    page.get_by_role("link", name="Remove access…").click()
    expect(page.get_by_role("heading", name="Remove access for Mo Member?")).to_be_visible()
    journey.shot(page, "03-confirm-removal")
    page.get_by_role("button", name="Remove access").click()
    expect(page.get_by_role("status")).to_contain_text(f"{member} no longer has access.")
    expect(row).to_contain_text("Removed")
    journey.shot(page, "04-member-removed")

    with schema_context(northwind.schema):
        membership = Membership.objects.get(user__username=member)
    assert (membership.state, membership.access_level) == ("disabled", "property-manager")
