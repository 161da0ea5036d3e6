"""Signing out with single logout, in a real browser: Portico's session ends, the browser carries a
signed LogoutRequest to the IdP, which checks it and sends a signed LogoutResponse back."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_sign_out_signs_out_at_the_idp_too_and_lands_on_you_are_signed_out(journey, northwind):
    from sso.sp import sp_endpoints
    from sso.sp_keys import sp_signing_key

    # What the customer's IdP admin configures: Portico's signing certificate and its Logout Url.
    sp = sp_endpoints(host=northwind.tenant.primary_host)
    northwind.idp.idp.register_sp(entity_id=sp.entity_id, slo_url=sp.slo_url,
                                  certificate_pem=sp_signing_key(tenant=northwind.tenant).certificate_pem)
    email = northwind.member_add("otto.out", first_name="Otto", last_name="Out", access_level="technician",
                                 properties=("elm-court",))
    page = journey.page()
    sign_in_with_sso(page, journey.server, northwind, email, first_name="Otto", last_name="Out")
    expect(page.get_by_role("heading", name="Welcome, Otto")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    expect(page.get_by_text("confirmed it signed you out there too")).to_be_visible()
    assert page.url.startswith(sp.slo_url + "?SAMLResponse=")
    journey.shot(page, "01-signed-out")
    page.goto(journey.server.tenant(northwind.tenant, "/"))
    expect(page.get_by_label("Work email")).to_be_visible()  # back at sign-in: the session is gone
