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
    # As the set-up guides say: Manage Account → Team Members.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage Account").click()
    expect(page.get_by_role("heading", name="Manage Account", exact=True)).to_be_visible()
    journey.shot(page, "00-manage-account")
    page.locator("main").get_by_role("link", name="Team Members").first.click()
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
    expect(row).to_contain_text("No access")
    expect(row).not_to_contain_text("Property Manager")
    expect(row.get_by_role("link", name=f"Give access again to {member}")).to_be_visible()
    journey.shot(page, "04-member-removed")

    # Find them again by name and status; their history says what happened, in words.
    page.get_by_label("Name or e-mail").fill("mo")
    page.get_by_label("Status").select_option(label="Removed")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="1 matching")).to_be_visible()
    row.get_by_role("link", name=f"Give access again to {member}").click()
    history = page.locator("section", has=page.get_by_role("heading", name="Access history"))
    expect(history).to_contain_text("Access removed")
    expect(history).to_contain_text("Access level: Technician → Property Manager")
    expect(history).to_contain_text("Team member added")
    journey.shot(page, "05-access-history")
    journey.phone_shot(page, "05-access-history")

    with schema_context(northwind.schema):
        membership = Membership.objects.get(user__username=member)
        properties = membership.properties.count()
    # Removed means no access at all: level and properties are cleared (a later grant says what it grants).
    assert (membership.state, membership.access_level, properties) == ("disabled", "", 0)
