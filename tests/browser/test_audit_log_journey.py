"""A Client Administrator reads their tenant's audit log, filters it and downloads it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.steps import sign_in_with_sso

pytestmark = pytest.mark.browser


def test_client_admin_reads_filters_and_downloads_the_audit_log(journey, northwind):
    admin = northwind.member_add("ada.audit", first_name="Ada", last_name="Audit", access_level="client-administrator")
    northwind.member_add("tia.tech", first_name="Tia", last_name="Tech", access_level="technician",
                         properties=("elm-court",))
    page = journey.page()
    sign_in_with_sso(page, journey.server, northwind, admin, first_name="Ada", last_name="Audit")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage Account").click()
    page.locator("main").get_by_role("link", name="Audit log").first.click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    table = page.locator("table.audit")
    expect(table).to_contain_text("Signed in")
    expect(table).to_contain_text("Team member added")
    expect(table).to_contain_text("Properties: none → Elm Court")
    expect(table).not_to_contain_text("member.add")
    journey.shot(page, "01-audit-log")
    journey.phone_shot(page, "01-audit-log")

    page.get_by_label("Show").select_option(label="Sign-ins")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_contain_text("Signed in")
    expect(table).not_to_contain_text("Team member added")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    body = open(download.value.path(), encoding="utf-8").read()
    assert body.startswith("time (UTC),kind,what") and admin in body
