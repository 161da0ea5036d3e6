"""IdP-initiated sign-in, as Entra's "Test this application" button and the My Apps tile do it:
the IdP posts an unsolicited response to the Reply URL."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.steps import idp_sign_in

pytestmark = pytest.mark.browser


def _test_this_application(page, bt) -> None:
    """Press "Test this application" at the IdP, configured with the tenant's Identifier and Reply URL."""
    from sso.sp import sp_endpoints

    sp = sp_endpoints(host=bt.tenant.primary_host)
    page.goto(f"{bt.idp.base_url}/idp/initiate?{urlencode({'acs': sp.acs_url, 'audience': sp.entity_id})}")
    expect(page.get_by_text("IdP-initiated sign-in")).to_be_visible()


def test_idp_initiated_sign_in_lands_on_the_portal_home_where_the_tenant_allows_it(journey, contoso):
    email = contoso.member_add("ivy.initiated", first_name="Ivy", last_name="Initiated", access_level="technician",
                               properties=("riverside-lofts",))
    page = journey.page()

    _test_this_application(page, contoso)
    idp_sign_in(page, email, first_name="Ivy", last_name="Initiated")

    page.wait_for_url(journey.server.tenant(contoso.tenant, "/"))
    expect(page.get_by_role("heading", name="Welcome, Ivy")).to_be_visible()
    expect(page.get_by_role("heading", name="Riverside Lofts")).to_be_visible()
    journey.shot(page, "01-portal-home")


def test_idp_initiated_sign_in_where_the_tenant_refuses_it_explains_what_to_do(journey, northwind):
    email = northwind.member_add("una.unsolicited", first_name="Una", last_name="Unsolicited",
                                 access_level="technician", properties=("elm-court",))
    page = journey.page()

    _test_this_application(page, northwind)
    idp_sign_in(page, email, first_name="Una", last_name="Unsolicited")

    alert = page.get_by_role("alert")
    expect(alert.get_by_role("heading", name="Please sign in from Portico")).to_be_visible()
    expect(alert).to_contain_text("Start from the sign-in page")
    expect(alert.get_by_test_id("reference")).to_have_text(re.compile(r"^[A-Z0-9]{6,}$"))
    journey.shot(page, "01-error-page")
    journey.phone_shot(page, "01-error-page")

    page.get_by_role("link", name="Back to sign-in").click()
    expect(page.get_by_label("Work email")).to_be_visible()
