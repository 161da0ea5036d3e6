"""The tenant's SSO settings page: who may open it, what it shows, and configuring through it."""
from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from provisioning.models import AccessLevel, Membership
from sso.models import IdentityProvider, IdpCertificate, StagedConnection
from sso.services import idp_configure_from_metadata, idp_configure_manual, sign_in_attempt_record
from sso.sp import sp_endpoints
from tenants.models import AuditEvent, EmailDomain
from testidp.keys import generate_keypair
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create
from tests.sso.helpers import FIXTURES, certificate_text, configuration_state, metadata_server

NOW = datetime.now(UTC)
SETTINGS = "/sso/settings/"


# --- helpers ---------------------------------------------------------------------------------------------


def signed_in(host: str, tenant: str, user, **kwargs) -> Client:
    return login_as(client_for(host, **kwargs), user, tenant)


def input_value(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}" value="([^"]*)"', page)
    assert match, f"no input #{element_id}"
    return html.unescape(match.group(1))


def field_errors(page: str, field_id: str) -> str:
    """The text of the error list right next to a form field (empty when there is none)."""
    match = re.search(rf'<div class="field field-error" id="field-{field_id}">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


@pytest.fixture
def client_admin(acme):
    return member_create(tenant="acme", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())


@pytest.fixture
def admin_client(client_admin) -> Client:
    return signed_in("acme.localhost", "acme", client_admin)


def upload(client: Client, name: str, data: bytes):
    return client.post(SETTINGS, upload_data(name, data))


def upload_data(name: str, data: bytes) -> dict:
    return {"action": "upload", "upload-metadata_file": SimpleUploadedFile(name, data)}


def save_draft(client: Client, data: dict):
    """Post a configuration form and, where the page asks to confirm its warnings, confirm them."""
    response = client.post(SETTINGS, data)
    if response.status_code == 200 and "Save the draft anyway" in response.content.decode():
        token = re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)
        response = client.post(SETTINGS, {"action": "confirm_draft", "token": token})
    return response


# --- permissions -----------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in_and_back(acme_client):
    response = acme_client.get(SETTINGS)
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fsso%2Fsettings%2F"
    assert acme_client.get("/sso/attempts/ABCDEFGH/")["Location"] == "/login/?next=%2Fsso%2Fattempts%2FABCDEFGH%2F"


@pytest.mark.parametrize("level", [AccessLevel.TECHNICIAN, AccessLevel.PROPERTY_MANAGER])
def test_other_access_levels_get_the_403_page(acme, level):
    client = signed_in("acme.localhost", "acme", member_create(tenant="acme", access_level=level, properties=()))
    response = client.get(SETTINGS)
    assert response.status_code == 403
    assert b"You can't open this page" in response.content
    assert client.post(SETTINGS, {"action": "domain_add", "domain-domain": "x.example"}).status_code == 403
    assert not EmailDomain.objects.filter(domain="x.example").exists()


def test_a_client_administrator_still_in_the_waiting_room_is_kept_out(acme):
    user = member_create(tenant="acme", access_level=AccessLevel.CLIENT_ADMINISTRATOR, state=Membership.State.WAITING_ROOM, properties=())
    response = signed_in("acme.localhost", "acme", user).get(SETTINGS)
    # The Waiting Room middleware may get there first; either way the page is not served.
    assert (response.status_code, response.get("Location")) in {(403, None), (302, "/waiting-room/")}


def test_another_tenants_client_administrator_cannot_open_this_tenants_page(acme, globex):
    globex_admin = signed_in("globex.localhost", "globex", member_create(tenant="globex", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=()))
    assert globex_admin.get(SETTINGS).status_code == 200  # at home
    stolen = Client(HTTP_HOST="acme.localhost")
    stolen.cookies = globex_admin.cookies  # the same session cookie presented to acme's host
    response = stolen.get(SETTINGS)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_every_form_needs_a_csrf_token(acme, client_admin):
    client = signed_in("acme.localhost", "acme", client_admin, enforce_csrf_checks=True)
    response = client.post(SETTINGS, {"action": "domain_add", "domain-domain": "csrf.example"})
    assert response.status_code == 403
    assert not EmailDomain.objects.filter(domain="csrf.example").exists()
    page = client.get(SETTINGS).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') == page.count('method="post"')


# --- what the page shows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["acme.localhost", "acme-staging.localhost"])
def test_page_shows_identifier_reply_url_and_sign_on_url_for_the_host_it_is_viewed_on(client_admin, host):
    page = signed_in(host, "acme", client_admin).get(SETTINGS).content.decode()
    expected = sp_endpoints(host=host)
    assert input_value(page, "sp-entity-id") == expected.entity_id
    assert input_value(page, "sp-acs-url") == expected.acs_url
    assert input_value(page, "sp-sign-on-url") == expected.sign_on_url
    assert input_value(page, "sp-slo-url") == expected.slo_url
    assert f'href="{expected.metadata_url}" download=' in page
    assert page.count('data-copy="sp-') == 4
    assert "/static/portico/portico.js" in page and "<script>" not in page  # a static file: the CSP allows no inline script
    script = (Path(settings.BASE_DIR) / "static" / "portico" / "portico.js").read_text()
    assert "navigator.clipboard" in script and "Copied" in script and "execCommand" in script
    other = "acme-staging.localhost" if host == "acme.localhost" else "acme.localhost"
    assert sp_endpoints(host=other).acs_url in page  # listed under "another address", not in the copy rows


def test_page_has_the_five_sections_and_a_test_sign_in_button(admin_client):
    page = admin_client.get(SETTINGS).content.decode()
    for title in ("Values for Entra", "Your identity provider", "Email domains", "Options",
                  "Test sign-in and recent attempts"):
        assert title in page
    assert 'href="/sso/login/?test=1&amp;next=/sso/settings/"' in page


def test_certificates_are_listed_with_expiry_badges(acme, admin_client):
    soon = generate_keypair("Expiring Soon", valid_until=NOW + timedelta(days=10, hours=1))
    later = generate_keypair("Fine For Years")
    idp_configure_manual(tenant=acme, sso_url="https://login.microsoftonline.com/t/saml2",
                         entity_id="https://sts.windows.net/t/", certificates=[soon.cert_pem], actor="test")
    page = admin_client.get(SETTINGS).content.decode()
    assert "Expires in 10 days" in page
    assert 'id="certificate-warning"' in page  # no certificate outlives the warning period
    idp_configure_manual(tenant=acme, sso_url="https://login.microsoftonline.com/t/saml2",
                         entity_id="https://sts.windows.net/t/", certificates=[soon.cert_pem, later.cert_pem],
                         actor="test")
    page = admin_client.get(SETTINGS).content.decode()
    assert "Expires in 10 days" in page and 'class="badge ok"' in page
    assert 'id="certificate-warning"' not in page  # a rotation in progress is not an alarm
    IdpCertificate.objects.filter(subject__contains="Expiring Soon").update(
        not_after=timezone.now() - timedelta(days=1))
    page = admin_client.get(SETTINGS).content.decode()
    assert '<span class="badge bad">Expired</span>' in page


def test_recent_attempts_list_this_tenants_attempts_only(acme, globex, admin_client):
    mine = sign_in_attempt_record(tenant=acme, outcome="failure", code="audience_mismatch",
                                  message="The response was meant for another application.", email="bo@acme.example",
                                  is_test=True)
    theirs = sign_in_attempt_record(tenant=globex, outcome="success", code="ok", email="al@globex.example")
    page = admin_client.get(SETTINGS).content.decode()
    assert mine.reference in page and "audience_mismatch" in page and "bo<wbr>@acme.<wbr>example" in page
    assert "The response was meant for another application." in page and ">test<" in page
    assert theirs.reference not in page and "al@globex.example" not in page


def test_attempt_detail_shows_the_escaped_saml_response_to_the_admin(acme, admin_client):
    xml = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1">'
           '<Issuer><script>alert(1)</script></Issuer></samlp:Response>')
    attempt = sign_in_attempt_record(tenant=acme, outcome="failure", code="issuer_mismatch", message="Wrong issuer.",
                                     email="bo@acme.example", response_xml=xml)
    response = admin_client.get(f"/sso/attempts/{attempt.reference}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<pre id="saml-response">' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "issuer_mismatch" in page and attempt.reference in page


def test_attempt_detail_of_another_tenant_is_not_found(acme, globex, admin_client):
    theirs = sign_in_attempt_record(tenant=globex, outcome="failure", code="expired", response_xml="<x/>")
    assert admin_client.get(f"/sso/attempts/{theirs.reference}/").status_code == 404
    assert admin_client.get("/sso/attempts/NOSUCHREF/").status_code == 404


def test_attempt_detail_is_for_client_administrators_only(acme):
    attempt = sign_in_attempt_record(tenant=acme, outcome="failure", code="expired", response_xml="<x/>")
    client = signed_in("acme.localhost", "acme", member_create(tenant="acme", access_level=AccessLevel.TECHNICIAN, properties=()))
    assert client.get(f"/sso/attempts/{attempt.reference}/").status_code == 403


# --- configuring through the page --------------------------------------------------------------------------


def test_upload_of_metadata_saves_a_draft_and_leaves_the_live_connection_alone(
        acme, admin_client, client_admin, test_idp):
    live_before = configuration_state(acme)
    response = save_draft(admin_client, upload_data("federationmetadata.xml", test_idp.metadata_xml().encode()))
    assert response.status_code == 302 and response["Location"] == "/sso/settings/#idp"
    draft = StagedConnection.objects.get(tenant=acme, kind="draft")
    assert draft.entity_id == test_idp.entity_id and draft.source == IdentityProvider.Source.UPLOAD
    assert configuration_state(acme) == live_before  # sign-ins keep using the live connection
    assert AuditEvent.objects.filter(tenant=acme, action="sso.draft_save",
                                     actor__contains=client_admin.email).exists()
    page = admin_client.get(SETTINGS).content.decode()
    assert "Draft saved: http://idp.test/idp/metadata" in page
    assert "Sign-ins keep using the live connection" in page


@pytest.mark.parametrize(("name", "count", "entity_id"), [
    ("entra-federationmetadata-common.xml", 4, "https://sts.windows.net/{tenantid}/"),
    ("adfs-federationmetadata.xml", 1, "http://sts.ait.dtu.dk/adfs/services/trust"),
])
def test_real_entra_and_adfs_documents_import_unchanged_through_the_page(acme, admin_client, name, count, entity_id):
    response = save_draft(admin_client, upload_data(name, (FIXTURES / name).read_bytes()))
    assert response.status_code == 302
    draft = StagedConnection.objects.get(tenant=acme, kind="draft")
    assert draft.entity_id == entity_id and len(draft.certificate_pems) == count


def test_metadata_url_through_the_page(acme, admin_client, test_idp, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    with metadata_server({"/fm.xml": (200, test_idp.metadata_xml().encode())}) as base:
        response = save_draft(admin_client, {"action": "url", "url-metadata_url": f" {base}/fm.xml "})
    assert response.status_code == 302
    draft = StagedConnection.objects.get(tenant=acme, kind="draft")
    assert draft.source == IdentityProvider.Source.URL and draft.metadata_url == f"{base}/fm.xml"


def test_manual_entry_through_the_page_with_a_pasted_certificate(acme, admin_client):
    keypair = generate_keypair("Microsoft Azure Federated SSO Certificate")
    response = admin_client.post(SETTINGS, {
        "action": "manual", "manual-sso_url": "https://login.microsoftonline.com/abc/saml2",
        "manual-entity_id": "https://sts.windows.net/abc/", "manual-certificate": keypair.cert_pem,
    })
    assert response.status_code == 302
    draft = StagedConnection.objects.get(tenant=acme, kind="draft")
    assert draft.source == IdentityProvider.Source.MANUAL and draft.entity_id == "https://sts.windows.net/abc/"
    assert len(draft.certificate_pems) == 1


def test_manual_entry_through_the_page_with_a_raw_certificate_file_and_a_second_certificate(acme, admin_client):
    first, second = generate_keypair("First"), generate_keypair("Second")
    der = base64.b64decode(first.cert_base64)
    response = admin_client.post(SETTINGS, {
        "action": "manual", "manual-sso_url": "https://login.microsoftonline.com/abc/saml2",
        "manual-entity_id": "https://sts.windows.net/abc/",
        "manual-certificate_file": SimpleUploadedFile("Portico.cer", der),
        "manual-additional_certificate": second.cert_base64,
    })
    assert response.status_code == 302
    assert len(StagedConnection.objects.get(tenant=acme, kind="draft").certificate_pems) == 2


@pytest.mark.parametrize(("name", "data", "message"), [
    ("page.html", b"<html><body>Sign in</body></html>", "This file is not SAML metadata"),
    ("evil.xml", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
     "The metadata contains a DOCTYPE declaration, which Portico refuses for security reasons."),
    ("empty.xml", b"   ", "The metadata file is empty."),
])
def test_invalid_metadata_upload_shows_the_specific_error_next_to_the_field_and_saves_nothing(
        acme, admin_client, name, data, message):
    before = configuration_state(acme)
    response = upload(admin_client, name, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in field_errors(page, "upload-metadata_file")
    assert 'id="configure-upload"' in page and "open" in page.split('id="configure-upload"')[0][-60:]
    assert configuration_state(acme) == before


@pytest.mark.parametrize(("certificate", "message"), [
    ("not a certificate at all", "The certificate is not a valid X.509 certificate."),
    ("PRIVATE_KEY", "This is a private key, not a certificate."),
    ("EXPIRED", "The certificate expired on"),
    ("", "Paste the IdP's signing certificate"),
], ids=["garbage", "private-key", "expired", "missing"])
def test_manual_entry_errors_show_next_to_the_certificate_and_save_nothing(acme, admin_client, certificate, message):
    certificate = certificate_text(certificate)
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, {
        "action": "manual", "manual-sso_url": "https://login.microsoftonline.com/abc/saml2",
        "manual-entity_id": "https://sts.windows.net/abc/", "manual-certificate": certificate,
    })
    assert response.status_code == 200
    assert message in field_errors(response.content.decode(), "manual-certificate")
    assert configuration_state(acme) == before


def test_a_metadata_url_that_does_not_answer_shows_the_error_and_saves_nothing(acme, admin_client, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    before = configuration_state(acme)
    with metadata_server({}) as base:
        response = admin_client.post(SETTINGS, {"action": "url", "url-metadata_url": f"{base}/gone.xml"})
    assert "The metadata URL answered HTTP 404." in field_errors(response.content.decode(), "url-metadata_url")
    assert configuration_state(acme) == before


def test_a_loopback_metadata_url_is_refused_on_the_page(acme, admin_client, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = False
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, {"action": "url", "url-metadata_url": "https://localhost:1/fm.xml"})
    assert "private or loopback address" in field_errors(response.content.decode(), "url-metadata_url")
    assert configuration_state(acme) == before


def test_an_upload_over_the_cap_is_refused_before_it_is_read(acme, admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    before = configuration_state(acme)
    response = upload(admin_client, "huge.xml", b"<x>" + b"a" * 8000 + b"</x>")
    assert response.status_code == 413
    assert "larger than" in response.content.decode() and "Nothing was changed" in response.content.decode()
    assert configuration_state(acme) == before


# --- email domains and options -------------------------------------------------------------------------------


def test_adding_and_removing_an_email_domain(acme, admin_client):
    response = admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": " @Acme-Group.Example "})
    assert response.status_code == 302
    assert EmailDomain.objects.filter(tenant=acme, domain="acme-group.example").exists()
    assert "@acme-group.example" in admin_client.get(SETTINGS).content.decode()
    admin_client.post(SETTINGS, {"action": "domain_remove", "domain": "acme-group.example"})
    assert not EmailDomain.objects.filter(domain="acme-group.example").exists()


def test_removing_another_tenants_email_domain_changes_nothing(acme, globex, admin_client):
    before = configuration_state(acme)
    admin_client.post(SETTINGS, {"action": "domain_remove", "domain": "globex.example"})
    assert configuration_state(acme) == before
    assert "globex.example is not one of your email domains." in admin_client.get(SETTINGS).content.decode()


def test_an_email_domain_of_another_tenant_is_refused_next_to_the_field(acme, globex, admin_client):
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": "globex.example"})
    assert response.status_code == 200
    assert ("Email domain globex.example already signs in through another organisation on Portico"
            in field_errors(response.content.decode(), "domain-domain"))
    assert configuration_state(acme) == before


def _section_messages(client: Client) -> str:
    page = client.get(SETTINGS).content.decode()
    section = page[page.index('id="domains"'):page.index('id="options"')]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)))


def test_an_added_domain_waits_for_verification_and_shows_its_txt_record_with_copy_buttons(acme, admin_client):
    response = admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": "acme-new.example"})
    assert response.status_code == 302
    row = EmailDomain.objects.get(tenant=acme, domain="acme-new.example")
    assert row.verified_at is None
    page = admin_client.get(SETTINGS).content.decode()
    assert "waiting for verification" in page
    index = page.index("@acme-new.example")
    assert input_value(page[index:], "txt-name-acme-new.example") == "_portico.acme-new.example"
    assert input_value(page[index:], "txt-value-acme-new.example") == f"portico-verification={row.verification_token}"
    assert 'data-copy="txt-name-acme-new.example"' in page and 'data-copy="txt-value-acme-new.example"' in page
    assert "Verify now" in page
    assert "Publish the DNS TXT record shown below" in page


def test_verify_now_checks_dns_and_verifies_the_domain(acme, admin_client, client_admin, local_dns):
    admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": "acme-dns.example"})
    row = EmailDomain.objects.get(tenant=acme, domain="acme-dns.example")
    local_dns.txt_set("_portico.acme-dns.example", f"portico-verification={row.verification_token}")
    response = admin_client.post(SETTINGS, {"action": "domain_verify", "domain": "acme-dns.example"})
    assert response.status_code == 302 and response["Location"].endswith("#domains")
    assert "Verified acme-dns.example" in _section_messages(admin_client)
    row.refresh_from_db()
    assert row.verified_method == "dns"
    assert AuditEvent.objects.filter(tenant=acme, action="tenant.email_domain_verify",
                                     actor=f"user:{client_admin.email}").exists()


def test_verify_now_without_the_record_says_what_is_missing_with_a_reference(acme, admin_client, local_dns):
    admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": "acme-nodns.example"})
    admin_client.post(SETTINGS, {"action": "domain_verify", "domain": "acme-nodns.example"})
    text = _section_messages(admin_client)
    assert "No TXT record found at _portico.acme-nodns.example yet" in text
    assert "reference DOMAIN-DNS-NOT-FOUND" in text
    assert EmailDomain.objects.get(domain="acme-nodns.example").verified_at is None


def test_verify_now_for_a_domain_that_is_not_the_tenants_checks_nothing(acme, globex, admin_client, local_dns):
    admin_client.post(SETTINGS, {"action": "domain_verify", "domain": "globex.example"})
    assert "globex.example is not one of your email domains. (reference DOMAIN-NOT-YOURS)" in _section_messages(admin_client)
    assert local_dns.queried("_portico.globex.example") == 0


@pytest.mark.parametrize(("domain", "reference"), [("gmail.com", "DOMAIN-WEBMAIL"), ("localhost.localhost", "DOMAIN-PORTICO"),
                                                   ("eu.globex.example", "DOMAIN-PARENT-TAKEN"), ("nodot", "DOMAIN-INVALID")])
def test_a_domain_no_tenant_may_claim_is_refused_next_to_the_field_with_its_reference(acme, globex, admin_client,
                                                                                    domain, reference):
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, {"action": "domain_add", "domain-domain": domain})
    assert response.status_code == 200
    assert f"(reference {reference})" in field_errors(response.content.decode(), "domain-domain")
    assert configuration_state(acme) == before


def _options(idp: IdentityProvider, **changes: str) -> dict[str, str]:
    from sso.forms import OptionsForm

    data = {f"options-{key}": value for key, value in OptionsForm.initial_for(idp).items() if value is not False}
    data.update({f"options-{key}": value for key, value in changes.items()})
    return {"action": "options", **{k: v for k, v in data.items() if v is not None}}


def test_options_switch_idp_initiated_sign_in_on_and_off(acme, admin_client):
    idp = IdentityProvider.objects.get(tenant=acme)
    admin_client.post(SETTINGS, _options(idp, allow_idp_initiated="on"))
    idp.refresh_from_db()
    assert idp.allow_idp_initiated is True
    admin_client.post(SETTINGS, _options(idp, allow_idp_initiated=None))
    idp.refresh_from_db()
    assert idp.allow_idp_initiated is False


def test_attribute_mapping_and_group_levels_are_saved_per_tenant(acme, admin_client):
    idp = IdentityProvider.objects.get(tenant=acme)
    response = admin_client.post(SETTINGS, _options(
        idp, display_name="Contoso Entra", attr_email="mail,\nhttp://schemas.example/claims/upn",
        attr_groups="groups", group_access_levels="# site staff\nabc-123 = Technician\ndef-456=property-manager"))
    assert response.status_code == 302
    idp.refresh_from_db()
    assert idp.display_name == "Contoso Entra"
    assert idp.attribute_mapping["email"] == ["mail", "http://schemas.example/claims/upn"]
    assert idp.attribute_mapping["groups"] == ["groups"]
    assert idp.group_access_levels == {"abc-123": "technician", "def-456": "property-manager"}
    page = admin_client.get(SETTINGS).content.decode()
    assert "abc-123 = technician" in page


def test_a_client_administrator_cannot_map_a_group_to_support(acme, admin_client):
    idp = IdentityProvider.objects.get(tenant=acme)
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, _options(idp, group_access_levels="abc = support"))
    assert response.status_code == 200
    assert "Line 1: &#x27;support&#x27; is not an access level you can grant" in response.content.decode()
    assert configuration_state(acme) == before


def test_an_empty_email_claim_list_is_refused(acme, admin_client):
    idp = IdentityProvider.objects.get(tenant=acme)
    response = admin_client.post(SETTINGS, _options(idp, attr_email=" , "))
    assert "Give at least one claim that carries the email address." in response.content.decode()


def test_the_page_works_before_any_idp_is_connected(acme, admin_client, test_idp):
    IdentityProvider.objects.filter(tenant=acme).delete()
    page = admin_client.get(SETTINGS).content.decode()
    assert "Not connected yet" in page and 'id="test-sign-in"' not in page
    assert save_draft(admin_client, upload_data("fm.xml", test_idp.metadata_xml().encode())).status_code == 302
    page = admin_client.get(SETTINGS).content.decode()
    assert 'id="test-draft"' in page and 'id="test-sign-in"' not in page  # only the draft can be tested


def test_idp_configured_elsewhere_is_shown(acme, admin_client):
    idp_configure_from_metadata(tenant=acme, document=(FIXTURES / "entra-federationmetadata-common.xml").read_bytes(),
                                actor="test")
    page = admin_client.get(SETTINGS).content.decode()
    assert "https://sts.windows.net/{tenantid}/" in page and "https://login.microsoftonline.com/common/saml2" in page
    assert page.count('<code class="thumb">') == 8  # SHA-1 and SHA-256 of each of the four


def test_certificates_show_the_sha1_thumbprint_beside_the_sha256_fingerprint(acme, admin_client):
    keypair = generate_keypair("Side By Side")
    idp_configure_manual(tenant=acme, sso_url="https://login.microsoftonline.com/t/saml2",
                         entity_id="https://sts.windows.net/t/", certificates=[keypair.cert_pem], actor="test")
    cert = x509.load_pem_x509_certificate(keypair.cert_pem.encode())
    page = admin_client.get(SETTINGS).content.decode()
    assert "Thumbprint (SHA-1, as in Entra)" in page
    assert cert.fingerprint(hashes.SHA1()).hex().upper() in page
    assert IdpCertificate.objects.get(idp__tenant=acme).fingerprint_sha256 in page


def test_a_confirmation_appears_inside_the_section_the_page_lands_on(acme, admin_client, test_idp):
    response = save_draft(admin_client, upload_data("federationmetadata.xml", test_idp.metadata_xml().encode()))
    assert response["Location"].endswith("#idp")
    page = admin_client.get(SETTINGS).content.decode()
    section = page.split('<section class="card" id="idp">', 1)[1].split("</section>", 1)[0]
    assert "Draft saved:" in section  # where the anchor scrolls to
    assert page.count("Draft saved:") == 1  # not repeated in the banner at the top


@pytest.mark.parametrize("action", ["domain_verify", "domain_remove"])
@pytest.mark.parametrize("domain", ["bad\x00.example", "ü" * 300, "", "@ACME.EXAMPLE."])
def test_odd_domain_input_to_verify_or_remove_gets_a_message_not_a_500(acme, admin_client, action, domain):
    before = configuration_state(acme)
    response = admin_client.post(SETTINGS, {"action": action, "domain": domain})
    assert response.status_code == 302
    if domain != "@ACME.EXAMPLE." or action == "domain_verify":
        assert configuration_state(acme) == before
