"""A new user's first sign-in: email-first page → Log In with Microsoft → test IdP → Waiting Room."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.steps import email_first, idp_sign_in

pytestmark = pytest.mark.browser


def test_new_user_signs_in_from_the_email_first_page_and_waits_in_the_waiting_room(journey, northwind):
    server = journey.server
    page = journey.page()
    email = northwind.email("nina.new")

    page.goto(f"{server.central}/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    journey.shot(page, "01-email-first")
    journey.phone_shot(page, "01-email-first")

    email_first(page, f"{server.central}/login/", email)
    journey.shot(page, "02-log-in-with-microsoft")
    page.get_by_role("link", name="Log In with Microsoft").click()

    idp_sign_in(page, email, first_name="Nina", last_name="Newman",
                before_submit=lambda: journey.shot(page, "03-identity-provider"))

    page.wait_for_url(server.tenant(northwind.tenant, "/waiting-room/"))
    expect(page.get_by_role("heading", name="You're in the Waiting Room")).to_be_visible()
    expect(page.get_by_text(email).first).to_be_visible()
    expect(page.get_by_text("Nobody has asked for access for you yet.")).to_be_visible()
    journey.shot(page, "04-waiting-room")
    journey.phone_shot(page, "04-waiting-room")

    # The Waiting Room holds: the portal home sends them back to it.
    page.goto(server.tenant(northwind.tenant, "/"))
    page.wait_for_url(server.tenant(northwind.tenant, "/waiting-room/"))

    from provisioning.models import Membership

    with schema_context(northwind.schema):
        membership = Membership.objects.get(user__email=email)
    assert (membership.state, membership.origin, membership.access_level) == ("waiting_room", "jit", "")
