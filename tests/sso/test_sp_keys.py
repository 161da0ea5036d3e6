"""Each tenant's own SP key pair: generated once, encrypted at rest, rotated with an overlap."""
from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from django.core import checks
from django.core.management import CommandError, call_command
from django.utils import timezone
from lxml import etree

from portal.checks import _key_encryption_problems
from sso.models import SpKeyPair
from sso.sp import sp_endpoints
from sso.sp_keys import (
    SpKeyUnreadable,
    sp_decryption_keys,
    sp_key_pair_ensure,
    sp_key_pair_rotate,
    sp_keys_reencrypt,
    sp_published_certificates,
    sp_signing_key,
)
from sso.sp_metadata import sp_metadata_xml
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def test_a_tenant_gets_one_key_pair_on_first_need_and_keeps_it(acme):
    first = sp_key_pair_ensure(tenant=acme)
    again = sp_key_pair_ensure(tenant=acme)
    assert first.pk == again.pk
    assert SpKeyPair.objects.filter(tenant=acme).count() == 1
    assert AuditEvent.objects.filter(tenant=acme, action="sso.sp_key_create").count() == 1


def test_two_tenants_never_share_a_key(acme, globex):
    assert sp_signing_key(tenant=acme).fingerprint_sha256 != sp_signing_key(tenant=globex).fingerprint_sha256


def test_the_private_key_is_stored_encrypted_and_matches_its_certificate(acme):
    row = sp_key_pair_ensure(tenant=acme)
    stored = bytes(row.private_key_encrypted)
    assert b"PRIVATE KEY" not in stored
    material = sp_signing_key(tenant=acme)
    private = serialization.load_pem_private_key(material.private_key_pem, password=None)
    cert = x509.load_pem_x509_certificate(material.certificate_pem.encode("ascii"))
    assert private.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_a_key_encrypted_under_a_forgotten_encryption_key_is_reported_not_used(acme, settings):
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    sp_key_pair_ensure(tenant=acme)
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SpKeyUnreadable):
        sp_signing_key(tenant=acme)


def test_reencrypt_moves_every_key_to_the_first_encryption_key(acme, settings):
    old = Fernet.generate_key().decode()
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [old]
    before = sp_signing_key(tenant=acme).private_key_pem
    new = Fernet.generate_key().decode()
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [new, old]
    assert sp_keys_reencrypt() >= 1
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [new]
    assert sp_signing_key(tenant=acme).private_key_pem == before


def test_rotation_publishes_the_new_key_at_once_and_signs_with_it_after_the_overlap(acme):
    old = sp_key_pair_ensure(tenant=acme)
    new = sp_key_pair_rotate(tenant=acme, actor="cli", overlap=timedelta(days=14))
    assert sp_signing_key(tenant=acme).pk == old.pk
    assert [k.pk for k in sp_decryption_keys(tenant=acme)] == [new.pk, old.pk]
    assert sp_published_certificates(tenant=acme) == [new.certificate_pem, old.certificate_pem]
    old.refresh_from_db()
    assert old.retire_at == new.active_from + timedelta(days=14)
    assert AuditEvent.objects.filter(tenant=acme, action="sso.sp_key_rotate", target=new.fingerprint_sha256).exists()

    SpKeyPair.objects.filter(pk=new.pk).update(active_from=timezone.now())
    assert sp_signing_key(tenant=acme).pk == new.pk
    assert [k.pk for k in sp_decryption_keys(tenant=acme)] == [new.pk, old.pk]  # the old one still decrypts

    SpKeyPair.objects.filter(pk=old.pk).update(retire_at=timezone.now() - timedelta(seconds=1))
    assert [k.pk for k in sp_decryption_keys(tenant=acme)] == [new.pk]


def test_rotation_without_overlap_replaces_a_compromised_key_at_once(acme):
    old = sp_key_pair_ensure(tenant=acme)
    new = sp_key_pair_rotate(tenant=acme, actor="cli", overlap=timedelta(0))
    assert sp_signing_key(tenant=acme).pk == new.pk
    assert old.pk not in [k.pk for k in sp_decryption_keys(tenant=acme)]


def test_sp_metadata_lists_each_certificate_for_signing_and_encryption(acme):
    sp_key_pair_ensure(tenant=acme)
    sp_key_pair_rotate(tenant=acme, actor="cli", overlap=timedelta(days=1))
    certificates = sp_published_certificates(tenant=acme)
    xml = sp_metadata_xml(endpoints=sp_endpoints(host="acme.localhost"), organisation_name=acme.name,
                          certificates=certificates)
    sp = etree.fromstring(xml.encode()).find("md:SPSSODescriptor", NS)
    keys = sp.findall("md:KeyDescriptor", NS)
    assert [k.get("use") for k in keys] == ["signing", "encryption", "signing", "encryption"]
    bodies = [k.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) for k in keys]
    assert bodies[0] == bodies[1] != bodies[2] == bodies[3]
    # KeyDescriptor comes first in SPSSODescriptor (schema order), then SingleLogoutService, NameIDFormat.
    assert sp[0].tag.endswith("KeyDescriptor") and sp[4].tag.endswith("SingleLogoutService")
    assert sp[6].tag.endswith("NameIDFormat")


def test_sp_key_rotate_command(acme, capsys):
    sp_key_pair_ensure(tenant=acme)
    call_command("sp_key_rotate", "acme", "--overlap-days", "3")
    out = capsys.readouterr().out
    newest = SpKeyPair.objects.filter(tenant=acme).order_by("-created").first()
    assert newest.fingerprint_sha256 in out and "upload it to the IdP" in out
    with pytest.raises(CommandError, match="No tenant"):
        call_command("sp_key_rotate", "nope")
    with pytest.raises(CommandError, match="negative"):
        call_command("sp_key_rotate", "acme", "--overlap-days", "-1")
    with pytest.raises(CommandError, match="no slug"):
        call_command("sp_key_rotate", "acme", "--reencrypt")


def test_an_encryption_key_that_is_not_a_fernet_key_stops_start_up(settings):
    settings.PORTICO_KEY_ENCRYPTION_KEYS = ["not-a-key"]
    [problem] = _key_encryption_problems(deploy=False)
    assert problem.id == "portico.E004" and problem.level == checks.ERROR


def test_deploy_check_warns_when_keys_are_derived_from_secret_key(settings):
    settings.PORTICO_KEY_ENCRYPTION_KEYS = []
    assert [p.id for p in _key_encryption_problems(deploy=True)] == ["portico.W006"]
    assert _key_encryption_problems(deploy=False) == []
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert _key_encryption_problems(deploy=True) == []
