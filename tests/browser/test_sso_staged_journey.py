"""A Client Administrator moves a live tenant to a new identity provider without fear: the new
metadata is saved as a draft while everyone keeps signing in through the live one → Test sign-in on
the draft → Activate → the history says what changed → Roll back restores the previous connection
in one click."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import BrowserTenant, _browser_tenant
from tests.browser.steps import idp_sign_in, sign_in_with_sso

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def wingtip(browser_db) -> Iterator[BrowserTenant]:
    """A tenant signing in through its live IdP, about to move to another."""
    bt = _browser_tenant("w", "Wingtip Homes", properties=[("Quay House", "quay-house")])
    yield bt
    bt.idp.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def new_idp() -> Iterator[object]:
    from testidp.idp import TestIdP
    from testidp.server import serve_in_thread

    running = serve_in_thread(lambda url: TestIdP(url))
    yield running
    running.stop()


def test_draft_test_activate_and_roll_back(journey, wingtip, new_idp, tmp_path):
    server = journey.server
    admin = wingtip.member_add("ada.admin", first_name="Ada", last_name="Admin", access_level="client-administrator")
    staff = wingtip.member_add("sam.staff", first_name="Sam", last_name="Staff", access_level="technician",
                               properties=("quay-house",))
    old_entity, new_entity = wingtip.idp.idp.entity_id, new_idp.idp.entity_id  # type: ignore[union-attr]

    page = journey.page()
    sign_in_with_sso(page, server, wingtip, admin, first_name="Ada", last_name="Admin")
    page.goto(server.tenant(wingtip.tenant, "/sso/settings/"))

    # Save the new IdP's metadata: a draft, next to the live connection.
    metadata = tmp_path / "New.xml"
    metadata.write_bytes(requests.get(f"{new_idp.base_url}/idp/metadata", timeout=10).content)
    page.get_by_label("Federation Metadata XML").set_input_files(metadata)
    page.get_by_role("button", name="Upload and save as draft").click()
    page.get_by_role("button", name="Save the draft anyway").click()  # the local IdP's plain http
    expect(page.get_by_role("status")).to_contain_text(f"Draft saved: {new_entity}")
    expect(page.get_by_role("status")).to_contain_text(f"Sign-ins keep using the live connection ({old_entity})")
    expect(page.locator("#draft")).to_contain_text("not tested yet")
    journey.shot(page, "01-draft-saved", element=page.locator("#idp"))

    # Everyone else still signs in through the live IdP meanwhile.
    other = journey.page()
    sign_in_with_sso(other, server, wingtip, staff, first_name="Sam", last_name="Staff")
    expect(other.get_by_role("heading", level=1)).not_to_contain_text("couldn't")

    # Test sign-in on the draft goes to the new IdP and passes.
    page.get_by_role("link", name="Test sign-in on the draft").click()
    assert page.url.startswith(new_idp.base_url)
    idp_sign_in(page, admin, first_name="Ada", last_name="Admin")
    page.wait_for_url(re.compile(r"/sso/test/[A-Z0-9]+/$"))
    expect(page.get_by_role("heading", name=re.compile("Test sign-in worked"))).to_be_visible()
    expect(page.get_by_text("Tested against")).to_be_visible()
    expect(page.locator("#claims")).to_contain_text("Immutable object ID")
    # Ada's account is bound to the old IdP's immutable ID: the result says what a real sign-in would do.
    expect(page.get_by_test_id("binding")).to_contain_text("would be refused")
    expect(page.get_by_test_id("binding")).to_contain_text("bound to another identity")
    journey.shot(page, "02-draft-test-result")

    # Activate, from the result page.
    page.get_by_role("button", name="Activate the draft").click()
    expect(page.get_by_role("status")).to_contain_text(f"Activated: everyone now signs in through {new_entity}")
    expect(page.get_by_role("status")).to_contain_text("Roll back restores it")
    expect(page.locator("#previous-connection")).to_contain_text(old_entity)
    history = page.locator("#connection-history")
    expect(history.get_by_role("row").nth(1)).to_contain_text("Draft identity provider connection activated")
    expect(history.get_by_role("row").nth(1)).to_contain_text(old_entity)
    expect(history.get_by_role("row").nth(1)).to_contain_text(new_entity)
    expect(history.get_by_role("row").nth(1)).to_contain_text(admin)
    journey.shot(page, "03-activated", element=page.locator("#idp"))

    # One click restores the previous connection.
    page.get_by_role("button", name="Roll back").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rolled back: everyone now signs in through {old_entity}")
    expect(history.get_by_role("row").nth(1)).to_contain_text("Identity provider connection rolled back")
    expect(page.locator("#previous-connection")).to_contain_text(new_entity)
    journey.shot(page, "04-rolled-back", element=page.locator("#idp"))

    # And sign-in goes through the old IdP again.
    again = journey.page()
    sign_in_with_sso(again, server, wingtip, staff, first_name="Sam", last_name="Staff")
    assert again.url.startswith(server.tenant(wingtip.tenant, "/"))
