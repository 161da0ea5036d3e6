"""Configuring a tenant's IdP through the services: upload, metadata URL, manual entry, and refusals.

Every refusal must leave the IdP, its certificates and the email domains exactly as they were.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sso.errors import SsoConfigError
from sso.models import IdentityProvider
from sso.services import idp_configure_from_metadata, idp_configure_from_url, idp_configure_manual, idp_options_update
from tenants.models import AuditEvent, EmailDomain
from testidp.idp import TestIdP
from testidp.keys import generate_keypair
from tests.provisioning.factories import member_create
from tests.sso.helpers import FIXTURES, certificate_text, configuration_state, metadata_server

NOW = datetime.now(UTC)


# --- helpers ---------------------------------------------------------------------------------------------


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metadata.xml"


@pytest.fixture
def configured(acme, test_idp) -> IdentityProvider:
    """acme already trusts a working IdP: refusals must not disturb it."""
    return idp_configure_from_metadata(tenant=acme, document=test_idp.metadata_xml(), actor="test")


# --- upload ----------------------------------------------------------------------------------------------


def test_upload_of_test_idp_metadata_configures_entity_id_sso_url_and_certificate(acme, test_idp):
    idp = idp_configure_from_metadata(tenant=acme, document=test_idp.metadata_xml().encode(), actor="test")
    assert idp.tenant == acme
    assert idp.entity_id == "http://idp.test/idp/metadata"
    assert idp.sso_url == "http://idp.test/idp/sso"
    assert idp.source == IdentityProvider.Source.UPLOAD
    [cert] = idp.certificates.all()
    assert cert.pem.strip() == test_idp.keypair.cert_pem.strip()
    assert AuditEvent.objects.filter(tenant=acme, action="sso.idp_configure").exists()


@pytest.mark.parametrize(("fixture", "entity_id", "sso_url", "label", "signing_certificates"), [
    # Entra's common metadata carries four signing certificates; ADFS's its signing one only.
    ("entra-federationmetadata-common.xml", "https://sts.windows.net/{tenantid}/",
     "https://login.microsoftonline.com/common/saml2", "Microsoft", 4),
    ("adfs-federationmetadata.xml", "http://sts.ait.dtu.dk/adfs/services/trust",
     "https://sts.ait.dtu.dk/adfs/ls/", "ADFS", 1),
], ids=["entra", "adfs"])
def test_real_idp_metadata_imports_unchanged_with_its_signing_certificates(
        acme, fixture, entity_id, sso_url, label, signing_certificates):
    IdentityProvider.objects.filter(tenant=acme).delete()  # first connect: the label is suggested
    idp = idp_configure_from_metadata(tenant=acme, document=(FIXTURES / fixture).read_bytes(), actor="test")
    assert (idp.entity_id, idp.sso_url, idp.display_name) == (entity_id, sso_url, label)
    assert idp.certificates.count() == signing_certificates


def test_reconfiguring_keeps_the_admins_button_label(acme):
    idp_options_update(idp=IdentityProvider.objects.get(tenant=acme), actor="test", display_name="Contoso staff")
    idp = idp_configure_from_metadata(
        tenant=acme, document=(FIXTURES / "adfs-federationmetadata.xml").read_bytes(), actor="test")
    assert idp.display_name == "Contoso staff"
    idp = idp_configure_manual(
        tenant=acme, sso_url="https://login.microsoftonline.com/1234/saml2", entity_id="https://localhost/",
        certificates=[generate_keypair().cert_base64], actor="test")
    assert idp.display_name == "Contoso staff"


def test_reconfiguring_replaces_the_trusted_certificates(acme, configured):
    rotated = TestIdP("http://idp.test", keypair=generate_keypair("Rotated"))
    idp = idp_configure_from_metadata(tenant=acme, document=rotated.metadata_xml(), actor="test")
    assert idp.pk == configured.pk
    assert [c.pem.strip() for c in idp.certificates.all()] == [rotated.keypair.cert_pem.strip()]


def test_upload_with_email_domains_adds_them_in_the_same_transaction(acme, test_idp):
    idp_configure_from_metadata(tenant=acme, document=test_idp.metadata_xml(), actor="test",
                                email_domains=["Acme-Corp.example"], allow_idp_initiated=True)
    assert EmailDomain.objects.filter(tenant=acme, domain="acme-corp.example").exists()
    assert IdentityProvider.objects.get(tenant=acme).allow_idp_initiated is True


@pytest.mark.parametrize(
    ("document", "code", "message"),
    [
        (b"<html><body>Sign in</body></html>", "not_metadata", "This file is not SAML metadata"),
        (b"this is not xml", "not_xml", "This file is not well-formed XML"),
        (b'<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x "y">]><md:EntityDescriptor '
         b'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>', "doctype",
         "The metadata contains a DOCTYPE declaration, which Portico refuses for security reasons."),
        (b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x/"/>',
         "no_idp_role", "no IDPSSODescriptor found"),
    ],
    ids=["html", "not-xml", "doctype", "sp-metadata"],
)
def test_invalid_metadata_is_refused_with_a_specific_message_and_saves_nothing(acme, configured, document, code,
                                                                                 message):
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError, match=message) as caught:
        idp_configure_from_metadata(tenant=acme, document=document, actor="test", email_domains=["new.example"])
    assert caught.value.code == code and caught.value.field == "metadata"
    assert configuration_state(acme) == before


def test_metadata_whose_certificates_have_all_expired_is_refused(acme, configured):
    expired = TestIdP("http://idp.test", keypair=generate_keypair(
        valid_from=NOW - timedelta(days=800), valid_until=NOW - timedelta(days=5)))
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError, match="Every signing certificate in the metadata has expired") as caught:
        idp_configure_from_metadata(tenant=acme, document=expired.metadata_xml(), actor="test")
    assert caught.value.code == "all_certificates_expired"
    assert configuration_state(acme) == before


def test_an_email_domain_owned_by_another_tenant_is_refused_and_nothing_is_saved(acme, globex, test_idp):
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError, match="Email domain globex.example already signs in through another organisation on Portico"):
        idp_configure_from_metadata(tenant=acme, document=test_idp.metadata_xml(), actor="test",
                                    email_domains=["new-acme.example", "GLOBEX.example"])
    assert configuration_state(acme) == before
    assert not EmailDomain.objects.filter(domain="new-acme.example").exists()


# --- metadata URL -----------------------------------------------------------------------------------------


def test_metadata_url_is_fetched_and_remembered_for_refreshes(acme, test_idp, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    with metadata_server({"/federationmetadata.xml": (200, test_idp.metadata_xml().encode())}) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/federationmetadata.xml", actor="test")
    assert idp.source == IdentityProvider.Source.URL
    assert idp.metadata_url == f"{base}/federationmetadata.xml"
    assert idp.metadata_fetched_at is not None
    assert idp.metadata_xml == test_idp.metadata_xml()
    assert idp.entity_id == test_idp.entity_id and idp.certificates.count() == 1


def test_real_entra_metadata_imports_from_a_url(acme, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    body = (FIXTURES / "entra-federationmetadata-common.xml").read_bytes()
    with metadata_server({"/fm.xml": (200, body)}) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
    assert idp.certificates.count() == 4


def test_a_loopback_metadata_url_is_refused_outside_development(acme, configured, test_idp, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = False
    before = configuration_state(acme)
    with metadata_server({"/fm.xml": (200, test_idp.metadata_xml().encode())}) as base:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(SsoConfigError, match="private or loopback address") as caught:
            idp_configure_from_url(tenant=acme, url=f"https://127.0.0.1:{port}/fm.xml", actor="test")
        assert caught.value.code == "private_address" and caught.value.field == "metadata_url"
        with pytest.raises(SsoConfigError, match="must start with https://"):
            idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
    assert configuration_state(acme) == before


def test_a_metadata_url_that_does_not_answer_is_refused(acme, configured, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError, match="The metadata URL refused the connection") as caught:
        idp_configure_from_url(tenant=acme, url=closed_port_url(), actor="test")
    assert caught.value.code == "fetch_failed"
    assert configuration_state(acme) == before


def test_a_metadata_url_answering_404_is_refused(acme, configured, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    before = configuration_state(acme)
    with metadata_server({}) as base:
        with pytest.raises(SsoConfigError, match="The metadata URL answered HTTP 404"):
            idp_configure_from_url(tenant=acme, url=f"{base}/missing.xml", actor="test")
    assert configuration_state(acme) == before


def test_a_metadata_url_serving_something_else_is_refused(acme, configured, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    before = configuration_state(acme)
    with metadata_server({"/login": (200, b"<html><body>Please sign in</body></html>")}) as base:
        with pytest.raises(SsoConfigError, match="This file is not SAML metadata"):
            idp_configure_from_url(tenant=acme, url=f"{base}/login", actor="test")
    assert configuration_state(acme) == before


# --- manual entry ------------------------------------------------------------------------------------------


def test_manual_entry_with_a_base64_certificate_configures_the_idp(acme):
    IdentityProvider.objects.filter(tenant=acme).delete()  # first connect: the label is suggested
    keypair = generate_keypair("Microsoft Azure Federated SSO Certificate")
    idp = idp_configure_manual(
        tenant=acme, sso_url="https://login.microsoftonline.com/1234/saml2",
        entity_id="https://sts.windows.net/1234/", certificates=[keypair.cert_base64], actor="test")
    assert idp.source == IdentityProvider.Source.MANUAL
    assert idp.display_name == "Microsoft"
    assert idp.sso_url == "https://login.microsoftonline.com/1234/saml2"
    [cert] = idp.certificates.all()
    assert "Microsoft Azure Federated SSO Certificate" in cert.subject


def test_manual_entry_accepts_two_certificates_during_a_rotation(acme):
    current, upcoming = generate_keypair("Current"), generate_keypair("Upcoming")
    idp = idp_configure_manual(
        tenant=acme, sso_url="https://login.microsoftonline.com/1234/saml2",
        entity_id="https://sts.windows.net/1234/", certificates=[current.cert_pem, upcoming.cert_pem], actor="test")
    assert idp.certificates.count() == 2


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        ("this is not a certificate", "The certificate is not a valid X.509 certificate."),
        ("PRIVATE_KEY", "This is a private key, not a certificate."),
        ("EXPIRED", "The certificate expired on"),
        ("", "Paste the IdP's signing certificate"),
    ],
    ids=["garbage", "private-key", "expired", "empty"],
)
def test_manual_entry_refuses_what_is_not_a_current_certificate(acme, configured, certificate, message):
    certificate = certificate_text(certificate)
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError, match=message) as caught:
        idp_configure_manual(tenant=acme, sso_url="https://login.microsoftonline.com/1234/saml2",
                             entity_id="https://sts.windows.net/1234/",
                             certificates=[certificate] if certificate else [], actor="test")
    assert caught.value.field == "certificate"
    assert configuration_state(acme) == before


@pytest.mark.parametrize(
    ("sso_url", "entity_id", "field"),
    [("not a url", "https://sts.windows.net/1234/", "sso_url"),
     ("https://login.microsoftonline.com/1234/saml2", "  ", "entity_id")],
)
def test_manual_entry_refuses_a_bad_sso_url_or_a_missing_entity_id(acme, configured, sso_url, entity_id, field):
    before = configuration_state(acme)
    with pytest.raises(SsoConfigError) as caught:
        idp_configure_manual(tenant=acme, sso_url=sso_url, entity_id=entity_id,
                             certificates=[generate_keypair().cert_pem], actor="test")
    assert caught.value.field == field
    assert configuration_state(acme) == before


# --- the same through Django admin (support staff on the central host) ------------------------------------------


def test_admin_lists_identity_providers_with_health_columns(acme, support_client, settings):
    from sso.services import sign_in_attempt_record

    sign_in_attempt_record(tenant=acme, outcome="failure", code="expired", email="bo@acme.example")
    IdentityProvider.objects.filter(tenant=acme).update(metadata_refresh_error="The metadata URL answered HTTP 503.")
    response = support_client.get("/admin/sso/identityprovider/")
    assert response.status_code == 200
    page = response.content.decode()
    for column in ("last successful sign-in", "last failure", "certificate expiry (soonest)",
                   "metadata refresh error"):
        assert column.lower() in page.lower()
    assert "The metadata URL answered HTTP 503." in page


def test_admin_configures_from_an_upload_through_the_same_service(acme, support_client, test_idp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    idp = IdentityProvider.objects.get(tenant=acme)
    response = support_client.post(f"/admin/sso/identityprovider/{idp.pk}/configure/", {
        "method": "upload", "metadata_file": SimpleUploadedFile("fm.xml", test_idp.metadata_xml().encode()),
        "allow_idp_initiated": "allow", "email_domains": "acme-support.example",
    })
    assert response.status_code == 302
    idp.refresh_from_db()
    assert idp.entity_id == test_idp.entity_id and idp.allow_idp_initiated is True
    assert EmailDomain.objects.filter(tenant=acme, domain="acme-support.example").exists()
    assert AuditEvent.objects.filter(tenant=acme, action="sso.idp_configure",
                                     actor="support:ana@portico.example").exists()


@pytest.mark.parametrize(("data", "field_message"), [
    ({"method": "manual", "sso_url": "https://login.microsoftonline.com/t/saml2", "entity_id": "https://sts.windows.net/t/",
      "certificate": "garbage"}, "The certificate is not a valid X.509 certificate."),
    ({"method": "url", "metadata_url": "https://127.0.0.1:9/fm.xml"}, "private or loopback address"),
    ({"method": "manual", "sso_url": "https://login.microsoftonline.com/t/saml2", "entity_id": "https://sts.windows.net/t/",
      "certificate": "EXPIRED"}, "The certificate expired on"),
])
def test_admin_configure_refusals_show_the_reason_and_save_nothing(acme, support_client, settings, data,
                                                                   field_message):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = False
    if "certificate" in data:
        data = {**data, "certificate": certificate_text(data["certificate"])}
    idp = IdentityProvider.objects.get(tenant=acme)
    before = configuration_state(acme)
    response = support_client.post(f"/admin/sso/identityprovider/{idp.pk}/configure/", data)
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert configuration_state(acme) == before


def test_admin_connects_a_tenant_without_an_idp(acme, support_client, test_idp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    IdentityProvider.objects.filter(tenant=acme).delete()
    add = support_client.get("/admin/sso/identityprovider/add/")
    assert add["Location"] == "/admin/sso/identityprovider/configure/"
    response = support_client.post("/admin/sso/identityprovider/configure/", {
        "tenant": acme.pk, "method": "upload",
        "metadata_file": SimpleUploadedFile("fm.xml", test_idp.metadata_xml().encode())})
    assert response.status_code == 302
    assert IdentityProvider.objects.get(tenant=acme).entity_id == test_idp.entity_id


def test_admin_edits_options_and_attribute_mapping_through_the_service(acme, support_client):
    from sso.forms import OptionsForm

    idp = IdentityProvider.objects.get(tenant=acme)
    data = {key: value for key, value in OptionsForm.initial_for(idp).items() if value is not False}
    data.update(display_name="Microsoft", allow_idp_initiated="on", attr_groups="groups",
                group_access_levels="g-1 = client-administrator", restrict_email_domains="on")
    certs = list(idp.certificates.order_by("not_after", "pk"))
    data.update({"certificates-TOTAL_FORMS": str(len(certs)), "certificates-INITIAL_FORMS": str(len(certs)),
                 "certificates-MIN_NUM_FORMS": "0", "certificates-MAX_NUM_FORMS": "1000"})
    for index, cert in enumerate(certs):
        data.update({f"certificates-{index}-id": str(cert.pk), f"certificates-{index}-idp": str(idp.pk)})
    response = support_client.post(f"/admin/sso/identityprovider/{idp.pk}/change/", data)
    assert response.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", response.content.decode(), re.S)
    idp.refresh_from_db()
    assert idp.display_name == "Microsoft" and idp.allow_idp_initiated is True
    assert idp.group_access_levels == {"g-1": "client-administrator"}
    assert idp.attribute_mapping["groups"] == ["groups"]
    assert AuditEvent.objects.filter(tenant=acme, action="sso.idp_options").exists()
    response = support_client.post(f"/admin/sso/identityprovider/{idp.pk}/change/",
                                   {**data, "group_access_levels": "g-1 = support"})
    assert response.status_code == 200 and "is not an access level you can grant" in response.content.decode()
    idp.refresh_from_db()
    assert idp.group_access_levels == {"g-1": "client-administrator"}


def test_admin_sign_in_attempts_are_read_only_and_searchable_by_reference(acme, globex, support_client):
    from sso.services import sign_in_attempt_record

    mine = sign_in_attempt_record(tenant=acme, outcome="failure", code="audience_mismatch", email="bo@acme.example",
                                  response_xml="<samlp:Response><x>&amp;</x></samlp:Response>")
    other = sign_in_attempt_record(tenant=globex, outcome="success", code="ok", email="al@globex.example")
    page = support_client.get("/admin/sso/signinattempt/", {"q": mine.reference.lower()}).content.decode()
    assert mine.reference in page and other.reference not in page
    page = support_client.get("/admin/sso/signinattempt/",
                              {"outcome__exact": "success", "is_test__exact": "0"}).content.decode()
    assert other.reference in page and mine.reference not in page
    detail = support_client.get(f"/admin/sso/signinattempt/{mine.pk}/change/")
    assert detail.status_code == 200 and "&lt;samlp:Response&gt;" in detail.content.decode()
    assert support_client.post(f"/admin/sso/signinattempt/{mine.pk}/delete/").status_code == 403


def test_admin_tenant_page_refuses_an_email_domain_of_another_tenant(acme, globex, support_client):
    page = support_client.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    assert "acme-staging.localhost" in page and "acme.example" in page
    domains = list(acme.domains.order_by("id"))
    email_domains = list(acme.email_domains.order_by("id"))
    data = {"name": acme.name, "status": acme.status, "brand_colour": "",
            "domains-TOTAL_FORMS": str(len(domains)), "domains-INITIAL_FORMS": str(len(domains)),
            "domains-MIN_NUM_FORMS": "0", "domains-MAX_NUM_FORMS": "1000",
            "email_domains-TOTAL_FORMS": str(len(email_domains) + 1),
            "email_domains-INITIAL_FORMS": str(len(email_domains)),
            "email_domains-MIN_NUM_FORMS": "0", "email_domains-MAX_NUM_FORMS": "1000"}
    for index, domain in enumerate(domains):
        data.update({f"domains-{index}-id": str(domain.pk), f"domains-{index}-tenant": str(acme.pk),
                     f"domains-{index}-domain": domain.domain})
        if domain.is_primary:
            data[f"domains-{index}-is_primary"] = "on"
    for index, row in enumerate(email_domains):
        data.update({f"email_domains-{index}-id": str(row.pk), f"email_domains-{index}-tenant": str(acme.pk),
                     f"email_domains-{index}-domain": row.domain})
    new = len(email_domains)
    before = configuration_state(acme)
    response = support_client.post(f"/admin/tenants/tenant/{acme.pk}/change/",
                                    {**data, f"email_domains-{new}-domain": "GLOBEX.example"})
    assert response.status_code == 200
    assert "Email domain globex.example already signs in through another organisation on Portico" in response.content.decode()
    assert configuration_state(acme) == before
    response = support_client.post(f"/admin/tenants/tenant/{acme.pk}/change/",
                                   {**data, f"email_domains-{new}-domain": "acme-admin.example"})
    assert response.status_code == 302
    assert EmailDomain.objects.filter(tenant=acme, domain="acme-admin.example").exists()
    assert AuditEvent.objects.filter(tenant=acme, action="tenant.email_domains_add").exists()


def test_admin_audit_events_are_read_only(acme, support_client):
    event = AuditEvent.objects.filter(tenant=acme).first()
    assert support_client.get("/admin/tenants/auditevent/").status_code == 200
    assert support_client.get(f"/admin/tenants/auditevent/{event.pk}/change/").status_code == 200
    assert support_client.post(f"/admin/tenants/auditevent/{event.pk}/delete/").status_code == 403


def test_admin_shows_each_tenants_users_without_mixing_tenants(acme, globex, support_client):
    from provisioning.models import AccessLevel

    for email, state in (("una@acme.example", "active"), ("wes@acme.example", "waiting_room")):
        member_create(email=email, state=state, access_level=AccessLevel.TECHNICIAN)
    listing = support_client.get("/admin/tenants/tenant/").content.decode()
    assert "1 active · 1 waiting · 0 disabled" in listing
    page = support_client.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    assert "una@acme.example" in page and "wes@acme.example" in page and "Waiting Room" in page
    other = support_client.get(f"/admin/tenants/tenant/{globex.pk}/change/").content.decode()
    assert "una@acme.example" not in other
