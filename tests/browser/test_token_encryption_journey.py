"""A Client Administrator turns on Entra's token encryption and signed requests: downloads Portico's
certificate from the SSO settings page, gives it to the IdP (the test IdP stands in for Entra's Token
encryption and Verification certificates), requires encrypted assertions and signs requests in
Portico, and runs a test sign-in after each step."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserTenant, _browser_tenant
from tests.browser.steps import idp_sign_in, sign_in_with_sso

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def woodgrove(browser_db) -> Iterator[BrowserTenant]:
    """A tenant of its own: its options change here and must not leak into other journeys."""
    bt = _browser_tenant("g", "Woodgrove Homes", properties=[("Oak Yard", "oak-yard")])
    yield bt
    bt.idp.stop()  # type: ignore[union-attr]


def _test_sign_in(page, email: str) -> None:
    page.get_by_role("link", name=re.compile(r"^(Test sign-in|Test again)$")).click()
    idp_sign_in(page, email, first_name="Wes", last_name="Admin")
    page.wait_for_url(re.compile(r"/sso/test/[A-Z0-9]+/$"))


def _save_option(page, label: str) -> None:
    page.get_by_label(label).check()
    page.get_by_role("button", name="Save options").click()
    expect(page.locator("#options").get_by_role("status")).to_contain_text("Options saved")
    expect(page.get_by_label(label)).to_be_checked()


def test_client_admin_turns_on_token_encryption_and_signed_requests(journey, woodgrove):
    from sso.sp_keys import sp_published_certificates

    admin = woodgrove.member_add("wes.admin", first_name="Wes", last_name="Admin",
                                 access_level="client-administrator")
    idp = woodgrove.idp.idp  # type: ignore[union-attr]
    page = journey.page()
    sign_in_with_sso(page, journey.server, woodgrove, admin, first_name="Wes", last_name="Admin")
    page.goto(journey.server.tenant(woodgrove.tenant, "/sso/settings/"))

    section = page.locator("#sp-certificate")
    expect(section).to_contain_text("Signs now")
    expect(section).to_contain_text("Thumbprint (SHA-1, as in Entra)")
    journey.shot(page, "01-portico-certificate", element=section)
    journey.phone_shot(page, "01-settings")
    with page.expect_download() as download_info:
        section.get_by_role("link", name="Download .cer").click()
    download = download_info.value
    assert download.suggested_filename == f"portico-{woodgrove.slug}-sp.cer"
    certificate = open(download.path(), encoding="ascii").read()
    assert certificate == sp_published_certificates(tenant=woodgrove.tenant)[0]

    # Entra: Token encryption → Import Certificate → Activate token encryption.
    idp.encrypt_for_sp(certificate_pem=certificate)
    _save_option(page, "Require encrypted assertions")
    _test_sign_in(page, admin)
    result = page.locator("section.card").first
    expect(result.get_by_role("heading")).to_contain_text("Test sign-in worked")
    expect(result).to_contain_text("The assertion was encrypted to Portico's certificate and decrypted.")
    journey.shot(page, "02-test-encrypted")

    # Entra: SAML Certificates → Verification certificates → upload, Require verification certificates.
    page.get_by_role("link", name="Back to SSO settings").click()
    _save_option(page, "Sign sign-in requests")
    idp.sp_verification_certificate = certificate
    _test_sign_in(page, admin)
    expect(page.locator("section.card").first.get_by_role("heading")).to_contain_text("Test sign-in worked")
    journey.shot(page, "03-test-signed-request")
