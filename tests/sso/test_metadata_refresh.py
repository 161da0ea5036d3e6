"""Scheduled work: metadata refresh (keep the last good copy) and certificate expiry warnings (once)."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from portal.celery import app
from provisioning.models import AccessLevel, Membership
from sso.models import IdentityProvider, IdpCertificate
from sso.services import idp_configure_from_url, idp_configure_manual
from sso.tasks import REFRESH_MAX_RETRIES, refresh_all_metadata, refresh_metadata, warn_expiring_certificates
from testidp.idp import TestIdP
from testidp.keys import generate_keypair
from tests.provisioning.factories import member_create
from tests.sso.helpers import metadata_server


def certificates(idp: IdentityProvider) -> list[str]:
    return sorted(idp.certificates.values_list("pem", flat=True))


# --- metadata refresh ---------------------------------------------------------------------------------------


def test_refresh_picks_up_a_rotated_certificate(acme, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    old = TestIdP("http://idp.test")
    rotated = TestIdP("http://idp.test", keypair=generate_keypair("Rotated"))
    routes = {"/fm.xml": (200, old.metadata_xml().encode())}
    with metadata_server(routes) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
        routes["/fm.xml"] = (200, rotated.metadata_xml().encode())
        assert refresh_metadata.apply(args=[idp.pk]).get() == "refreshed"
    idp.refresh_from_db()
    assert idp.metadata_xml == rotated.metadata_xml()
    assert certificates(idp) == [rotated.keypair.cert_pem]
    assert idp.metadata_refresh_error == "" and idp.metadata_refresh_failed_at is None


def test_a_refresh_keeps_the_connection_roll_back_restores(acme, settings):
    from sso.models import StagedConnection

    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    before = IdentityProvider.objects.get(tenant=acme).entity_id
    old = TestIdP("http://idp.test")
    routes = {"/fm.xml": (200, old.metadata_xml().encode())}
    with metadata_server(routes) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
        routes["/fm.xml"] = (200, TestIdP("http://idp.test", keypair=generate_keypair("Next")).metadata_xml().encode())
        assert refresh_metadata.apply(args=[idp.pk]).get() == "refreshed"
    # Still the connection that was live before this one, not the pre-refresh copy of this one.
    assert StagedConnection.objects.get(tenant=acme, kind="previous").entity_id == before


@pytest.mark.parametrize(("status", "body", "message"), [
    (500, b"oops", "The metadata URL answered HTTP 500."),
    (200, b"<html>maintenance</html>", "This file is not SAML metadata"),
])
def test_a_failed_refresh_keeps_the_last_good_copy_and_records_the_error(acme, settings, status, body, message):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    good = TestIdP("http://idp.test")
    routes = {"/fm.xml": (200, good.metadata_xml().encode())}
    hits: list[str] = []
    with metadata_server(routes, hits=hits) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
        fetched_at, version = idp.metadata_fetched_at, idp.version
        routes["/fm.xml"] = (status, body)
        hits.clear()
        assert refresh_metadata.apply(args=[idp.pk]).get() == "failed"
    assert len(hits) == 1 + REFRESH_MAX_RETRIES  # retried with backoff (immediately, in eager mode)
    idp.refresh_from_db()
    assert idp.metadata_xml == good.metadata_xml()
    assert certificates(idp) == [good.keypair.cert_pem]
    assert (idp.entity_id, idp.metadata_fetched_at, idp.version) == (good.entity_id, fetched_at, version)
    assert message in idp.metadata_refresh_error
    assert idp.metadata_refresh_failed_at is not None


def test_a_refresh_after_a_failure_clears_the_error(acme, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    good = TestIdP("http://idp.test")
    routes = {"/fm.xml": (200, good.metadata_xml().encode())}
    with metadata_server(routes) as base:
        idp = idp_configure_from_url(tenant=acme, url=f"{base}/fm.xml", actor="test")
        IdentityProvider.objects.filter(pk=idp.pk).update(metadata_refresh_error="The metadata URL answered HTTP 503.",
                                                          metadata_refresh_failed_at=timezone.now())
        assert refresh_metadata.apply(args=[idp.pk]).get() == "refreshed"
    idp.refresh_from_db()
    assert idp.metadata_refresh_error == "" and idp.metadata_refresh_failed_at is None


def test_refresh_skips_an_idp_no_longer_configured_from_a_url(acme):
    idp = IdentityProvider.objects.get(tenant=acme)
    assert idp.source != IdentityProvider.Source.URL
    assert refresh_metadata.apply(args=[idp.pk]).get() == "skipped"
    assert refresh_metadata.apply(args=[10**9]).get() == "skipped"


def test_both_tasks_are_on_the_beat_schedule():
    schedule = app.conf.beat_schedule
    assert schedule["sso.refresh_all_metadata"]["task"] == "sso.refresh_all_metadata"
    assert schedule["sso.warn_expiring_certificates"]["task"] == "sso.warn_expiring_certificates"
    assert schedule["sso.refresh_all_metadata"]["options"]["headers"] == {"_schema_name": "public"}
    assert {"sso.refresh_all_metadata", "sso.refresh_metadata", "sso.warn_expiring_certificates"} <= set(app.tasks)


@pytest.mark.worker
def test_dispatcher_fans_out_on_a_real_worker_which_keeps_the_last_good_copy(committed_db, celery_worker):
    """acme's metadata URL fails on the worker (plain http to loopback is refused in production, and
    nothing listens on port 9 anyway): the error must be recorded and acme must keep trusting what it had."""
    idp = IdentityProvider.objects.get(tenant__slug="acme")
    original = IdentityProvider.objects.filter(pk=idp.pk).values(
        "source", "metadata_url", "metadata_refresh_error", "metadata_refresh_failed_at").get()
    before = (idp.metadata_xml, idp.entity_id, idp.version, certificates(idp))
    globex_before = IdentityProvider.objects.filter(tenant__slug="globex").values().get()
    url = f"http://127.0.0.1:9/{uuid.uuid4().hex}/fm.xml"
    try:
        IdentityProvider.objects.filter(pk=idp.pk).update(source=IdentityProvider.Source.URL, metadata_url=url)
        assert refresh_all_metadata.apply_async(headers={"_schema_name": "public"}).get(timeout=30) == 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            idp.refresh_from_db()
            if idp.metadata_refresh_error:
                break
            time.sleep(0.2)
        assert idp.metadata_refresh_error in {"The metadata URL must start with https://.",
                                              "The metadata URL refused the connection."}
        assert (idp.metadata_xml, idp.entity_id, idp.version, certificates(idp)) == before
        assert IdentityProvider.objects.filter(tenant__slug="globex").values().get() == globex_before
    finally:
        IdentityProvider.objects.filter(pk=idp.pk).update(**original)


# --- certificate expiry warnings -------------------------------------------------------------------------------


def client_admin(tenant: str = "acme") -> str:
    return member_create(tenant=tenant, access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=()).email


def trust(tenant, *keypairs) -> IdentityProvider:
    return idp_configure_manual(tenant=tenant, sso_url="https://login.microsoftonline.com/t/saml2",
                                entity_id="https://sts.windows.net/t/", certificates=[k.cert_pem for k in keypairs],
                                actor="test")


def expiry_emails(tenant) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(tenant=tenant, kind="sso.certificate_expiry"))


def test_client_administrators_are_warned_once_before_a_certificate_expires(acme, globex, settings):
    settings.PORTICO_CERT_EXPIRY_WARNING_DAYS = 30
    admin = client_admin("acme")
    trust(acme, generate_keypair("Expiring", valid_until=timezone.now() + timedelta(days=12, hours=1)))
    assert warn_expiring_certificates.apply().get() == 1
    [email] = expiry_emails(acme)
    assert admin in email.to
    assert all(address.endswith("@acme.example") for address in email.to)
    assert "expires on" in email.subject and "Acme Property Management" in email.subject
    assert "stop" not in email.subject  # sign-in keeps working past the date: the pinned key is trusted
    assert "in 12 days" in email.body_text and "SHA-256" in email.body_text
    assert "/sso/settings/" in email.body_text and "Federation Metadata XML" in email.body_text
    assert "Open SSO settings" in email.body_html
    certificate = IdpCertificate.objects.get(idp__tenant=acme)
    assert certificate.expiry_warning_sent_at is not None

    assert warn_expiring_certificates.apply().get() == 0  # the next day, and the one after
    assert len(expiry_emails(acme)) == 1
    assert expiry_emails(globex) == []


def test_a_certificate_far_from_expiry_is_not_warned_about(acme):
    client_admin("acme")
    trust(acme, generate_keypair("Fine"))
    assert warn_expiring_certificates.apply().get() == 0
    assert expiry_emails(acme) == []


def test_a_rotation_with_the_new_certificate_in_place_is_not_warned_about(acme):
    client_admin("acme")
    trust(acme, generate_keypair("Old", valid_until=timezone.now() + timedelta(days=5)), generate_keypair("New"))
    assert warn_expiring_certificates.apply().get() == 0
    assert expiry_emails(acme) == []


def test_without_client_administrators_support_is_warned_instead(acme, settings):
    settings.PORTICO_SUPPORT_EMAILS = ["support@portico.example"]
    with schema_context("acme"):
        Membership.objects.filter(access_level=AccessLevel.CLIENT_ADMINISTRATOR).delete()
    trust(acme, generate_keypair("Expiring", valid_until=timezone.now() + timedelta(days=3)))
    assert warn_expiring_certificates.apply().get() == 1
    [email] = expiry_emails(acme)
    assert email.to == ["support@portico.example"]
