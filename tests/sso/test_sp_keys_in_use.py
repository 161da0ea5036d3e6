"""Each tenant's SP key pair at work: encrypted assertions through the ACS, signed AuthnRequests checked
by the running test IdP, SP metadata and certificate download, the settings page, the command line and
the expiry warning. Real keys from sso.sp_keys, real XML Encryption and signatures, real HTTP to the IdP.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context
from lxml import etree

from outbox.models import OutboundEmail
from provisioning.models import AccessLevel
from sso.metadata import certificate_thumbprint_sha1
from sso.models import IdentityProvider, SignInAttempt, SpKeyPair
from sso.request_signing import redirect_url_sign
from sso.services import idp_options_update
from sso.sp import sp_endpoints
from sso.sp_keys import sp_key_pair_ensure, sp_key_pair_rotate, sp_published_certificates, sp_signing_key
from sso.tasks import warn_expiring_certificates
from testidp.encryption import Encryption
from tests.conftest import client_for, idp_sign_in, sso_start
from tests.provisioning.factories import member_create
from tests.sso.test_settings_page import signed_in

pytestmark = pytest.mark.django_db
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


@pytest.fixture
def idp_settings(acme_idp) -> Iterator[None]:
    """The running acme IdP is shared by the session: put its encryption and verification back."""
    yield
    acme_idp.encrypt_to = None
    acme_idp.sp_verification_certificate = None


def _client_admin():
    return member_create(tenant="acme", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())


def _options(tenant, **options) -> IdentityProvider:
    return idp_options_update(idp=IdentityProvider.objects.get(tenant=tenant), actor="test", **options)


def _post(client, xml: str):
    return client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": "/"})


def _encrypted_response(client, idp, certificate_pem: str, email: str = "enc@acme.example", **encryption) -> str:
    _, info = sso_start(client)
    return idp.build_response(acs_url=info.acs_url, audience=info.issuer, email=email, in_response_to=info.id,
                              encrypt=Encryption(certificate_pem=certificate_pem, **encryption))


def _last_attempt() -> SignInAttempt:
    return SignInAttempt.objects.order_by("-created", "-id").first()


# --- encrypted assertions through the ACS ---


def test_the_idp_encrypts_to_the_certificate_in_portico_sp_metadata_and_the_person_signs_in(
        acme, acme_idp, idp_settings):
    client = client_for("acme.localhost")
    acme_idp.encrypt_for_sp(sp_metadata_xml=client.get("/sso/metadata/").content, content="aes256-gcm",
                            transport="rsa-oaep", digest="sha256")
    start = client.get("/sso/login/?next=/")
    acs_url, fields = idp_sign_in(start["Location"], "dana@acme.example")
    posted = base64.b64decode(fields["SAMLResponse"])
    assert b"EncryptedAssertion" in posted and b"dana@acme.example" not in posted
    response = client.post(urlsplit(acs_url).path, fields)
    assert response.status_code == 302, response.content[:300]
    assert client.get("/api/me").json()["email"] == "dana@acme.example"


def test_an_assertion_encrypted_to_another_tenants_key_changes_nothing(acme, globex, acme_idp):
    client = client_for("acme.localhost")
    xml = _encrypted_response(client, acme_idp, sp_published_certificates(tenant=globex)[0])
    response = _post(client, xml)
    assert response.status_code == 403 and b"Reference" in response.content
    assert client.get("/api/me").status_code == 401
    assert _last_attempt().code == "decryption_failed"


def test_rsa_1_5_is_refused_at_the_acs(acme, acme_idp):
    client = client_for("acme.localhost")
    xml = _encrypted_response(client, acme_idp, sp_published_certificates(tenant=acme)[0], transport="rsa-1_5")
    assert _post(client, xml).status_code == 403
    assert _last_attempt().code == "key_transport_rsa_1_5"


def test_a_tenant_that_requires_encryption_refuses_plain_assertions(acme, acme_idp):
    _options(acme, require_encrypted_assertions=True)
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    plain = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="p@acme.example",
                                    in_response_to=info.id)
    assert _post(client, plain).status_code == 403
    assert _last_attempt().code == "encryption_required"

    client = client_for("acme.localhost")
    xml = _encrypted_response(client, acme_idp, sp_published_certificates(tenant=acme)[0])
    assert _post(client, xml).status_code == 302
    assert client.get("/api/me").status_code == 200


def test_during_a_rotation_the_old_and_the_new_key_both_decrypt(acme, acme_idp):
    old = sp_key_pair_ensure(tenant=acme)
    new = sp_key_pair_rotate(tenant=acme, actor="test", overlap=timedelta(days=14))
    for certificate, email in ((old.certificate_pem, "old@acme.example"), (new.certificate_pem, "new@acme.example")):
        client = client_for("acme.localhost")
        assert _post(client, _encrypted_response(client, acme_idp, certificate, email=email)).status_code == 302
        assert client.get("/api/me").json()["email"] == email
    SpKeyPair.objects.filter(pk=old.pk).update(retire_at=timezone.now() - timedelta(seconds=1))
    client = client_for("acme.localhost")
    assert _post(client, _encrypted_response(client, acme_idp, old.certificate_pem)).status_code == 403
    assert _last_attempt().code == "decryption_failed"


# --- signed AuthnRequests ---


def test_signed_requests_carry_a_signature_the_idp_verifies_and_tampering_is_refused(acme, acme_idp, idp_settings):
    _options(acme, sign_authn_requests=True)
    client = client_for("acme.localhost")
    location = client.get("/sso/login/?next=/&login_hint=dana@acme.example")["Location"]
    query = urlsplit(location).query
    names = [segment.split("=", 1)[0] for segment in query.split("&")]
    assert names == ["SAMLRequest", "RelayState", "SigAlg", "Signature", "login_hint"]
    acme_idp.sp_verification_certificate = sp_signing_key(tenant=acme).certificate_pem

    assert requests.get(location, timeout=10).status_code == 200  # the IdP shows its sign-in page
    tampered_relay = location.replace("RelayState=", "RelayState=%2Fevil", 1)
    assert requests.get(tampered_relay, timeout=10).status_code == 400
    request_value = query.split("&")[0].split("=", 1)[1]
    flipped = request_value[:10] + ("A" if request_value[10] != "A" else "B") + request_value[11:]
    assert requests.get(location.replace(request_value, flipped), timeout=10).status_code == 400
    unsigned = location.split("&SigAlg=")[0]
    assert requests.get(unsigned, timeout=10).status_code == 400


def test_a_request_signed_with_another_tenants_key_is_refused_by_the_idp(acme, globex, acme_idp, idp_settings):
    client = client_for("acme.localhost")
    location = client.get("/sso/login/?next=/")["Location"]
    assert "Signature=" not in location  # off by default
    acme_idp.sp_verification_certificate = sp_signing_key(tenant=acme).certificate_pem
    forged = redirect_url_sign(url=location, private_key_pem=sp_signing_key(tenant=globex).private_key_pem)
    assert requests.get(forged, timeout=10).status_code == 400
    genuine = redirect_url_sign(url=location, private_key_pem=sp_signing_key(tenant=acme).private_key_pem)
    assert requests.get(genuine, timeout=10).status_code == 200


def test_a_redirect_url_is_signed_once_only():
    with pytest.raises(ValueError, match="already signed"):
        redirect_url_sign(url="https://idp.example/sso?SAMLRequest=x&SigAlg=y&Signature=z", private_key_pem=b"")


# --- SP metadata and the certificate download ---


def _metadata(client) -> etree._Element:
    response = client.get("/sso/metadata/")
    assert response.status_code == 200
    return etree.fromstring(response.content)


def test_sp_metadata_publishes_the_tenants_own_certificates_and_its_signing_choice(acme, globex):
    sp = _metadata(client_for("acme.localhost")).find("md:SPSSODescriptor", NS)
    assert sp.get("AuthnRequestsSigned") == "false"
    uses = [k.get("use") for k in sp.findall("md:KeyDescriptor", NS)]
    assert uses == ["signing", "encryption"]
    body = sp.findtext("md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert body in sp_published_certificates(tenant=acme)[0].replace("\n", "")
    methods = [m.get("Algorithm") for m in sp.findall("md:KeyDescriptor[@use='encryption']/md:EncryptionMethod", NS)]
    assert "http://www.w3.org/2001/04/xmlenc#rsa-1_5" not in methods and methods

    _options(acme, sign_authn_requests=True)
    assert _metadata(client_for("acme.localhost")).find("md:SPSSODescriptor", NS).get("AuthnRequestsSigned") == "true"
    globex_sp = _metadata(client_for("globex.localhost")).find("md:SPSSODescriptor", NS)
    assert globex_sp.get("AuthnRequestsSigned") == "false"
    globex_body = globex_sp.findtext("md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert globex_body != body


def test_the_sso_sp_metadata_command_prints_the_same_certificates(acme, capsys):
    call_command("sso_sp_metadata", "acme")
    printed = etree.fromstring(capsys.readouterr().out.encode())
    assert len(printed.findall("md:SPSSODescriptor/md:KeyDescriptor", NS)) == 2
    call_command("sso_sp_metadata", "acme", "--certificate")
    assert capsys.readouterr().out == sp_published_certificates(tenant=acme)[0]


def test_the_certificate_downloads_as_a_cer_file_newest_first_during_a_rotation(acme):
    old = sp_key_pair_ensure(tenant=acme)
    client = client_for("acme.localhost")
    response = client.get("/sso/certificate.cer")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('-sp.cer"')
    assert x509.load_pem_x509_certificate(response.content).fingerprint is not None
    assert response.content.decode() == old.certificate_pem
    new = sp_key_pair_rotate(tenant=acme, actor="test")
    assert client.get("/sso/certificate.cer").content.decode() == new.certificate_pem
    assert client.get(f"/sso/certificate.cer?key={old.pk}").content.decode() == old.certificate_pem
    for bad in ("x", "²", "9" * 30, "9" * 18, ""):
        assert client.get("/sso/certificate.cer", {"key": bad}).status_code == 404, bad


def test_another_tenants_certificate_cannot_be_downloaded_here(acme, globex):
    theirs = sp_key_pair_ensure(tenant=globex)
    assert client_for("acme.localhost").get(f"/sso/certificate.cer?key={theirs.pk}").status_code == 404


# --- the settings page and the command line ---


def test_the_settings_page_shows_portico_certificate_and_saves_both_options(acme):
    admin = signed_in("acme.localhost", "acme", _client_admin())
    page = admin.get("/sso/settings/").content.decode()
    key = sp_key_pair_ensure(tenant=acme)
    assert key.fingerprint_sha256 in page and "/sso/certificate.cer" in page
    assert certificate_thumbprint_sha1(key.certificate_pem) in page and f"{key.not_after:%Y-%m-%d}" in page

    from sso.forms import OptionsForm

    idp = IdentityProvider.objects.get(tenant=acme)
    data = {f"options-{k}": v for k, v in OptionsForm.initial_for(idp).items() if v is not False}
    data.update({"action": "options", "options-require_encrypted_assertions": "on", "options-sign_authn_requests": "on"})
    assert admin.post("/sso/settings/", data).status_code == 302
    idp.refresh_from_db()
    assert idp.require_encrypted_assertions and idp.sign_authn_requests
    page = admin.get("/sso/settings/").content.decode()
    for name in ("require_encrypted_assertions", "sign_authn_requests"):
        assert re.search(rf'<input[^>]*name="options-{name}"[^>]*checked', page), name


def test_sso_configure_turns_encryption_and_request_signing_on_and_off(acme, acme_idp, tmp_path, capsys):
    path = tmp_path / "fm.xml"
    path.write_text(acme_idp.metadata_xml())
    call_command("sso_configure", "acme", "--metadata-file", str(path), "--require-encryption", "--sign-requests")
    idp = IdentityProvider.objects.get(tenant=acme)
    assert idp.require_encrypted_assertions and idp.sign_authn_requests
    out = capsys.readouterr().out
    assert "encryption:        required" in out and "signed with the SP key" in out
    assert sp_key_pair_ensure(tenant=acme).fingerprint_sha256 in out
    call_command("sso_configure", "acme", "--metadata-file", str(path))  # options left as they are
    idp.refresh_from_db()
    assert idp.require_encrypted_assertions and idp.sign_authn_requests
    call_command("sso_configure", "acme", "--metadata-file", str(path), "--no-require-encryption", "--no-sign-requests")
    idp.refresh_from_db()
    assert not idp.require_encrypted_assertions and not idp.sign_authn_requests


# --- expiry ---


def _sp_expiry_emails(tenant) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(tenant=tenant, kind="sso.sp_certificate_expiry"))


def test_an_sp_certificate_near_its_end_is_warned_once_and_a_rotation_silences_it(acme, globex, settings):
    settings.PORTICO_CERT_EXPIRY_WARNING_DAYS = 30
    admin = _client_admin()
    with schema_context("public"):
        key = sp_key_pair_ensure(tenant=acme)
        sp_key_pair_ensure(tenant=globex)
        SpKeyPair.objects.filter(pk=key.pk).update(not_after=timezone.now() + timedelta(days=10, hours=1))
    assert warn_expiring_certificates.apply().get() == 1
    [email] = _sp_expiry_emails(acme)
    assert admin.email in email.to and "Portico's certificate" in email.subject
    assert "in 10 days" in email.body_text and "Token encryption" in email.body_text
    assert "Ask Portico support" in email.body_text and key.fingerprint_sha256 in email.body_text
    assert warn_expiring_certificates.apply().get() == 0
    assert _sp_expiry_emails(globex) == []

    other = sp_key_pair_ensure(tenant=globex)
    SpKeyPair.objects.filter(pk=other.pk).update(not_after=timezone.now() + timedelta(days=5))
    sp_key_pair_rotate(tenant=globex, actor="cli")  # support staff rotated before the task ran
    assert warn_expiring_certificates.apply().get() == 0


def test_a_test_sign_in_says_the_assertion_was_encrypted(acme, acme_idp):
    admin = signed_in("acme.localhost", "acme", _client_admin())
    _, info = sso_start(admin, test=True)
    xml = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="t@acme.example",
                                  in_response_to=info.id,
                                  encrypt=Encryption(certificate_pem=sp_published_certificates(tenant=acme)[0]))
    response = _post(admin, xml)
    assert response.status_code == 302 and "/sso/test/" in response["Location"]
    attempt = _last_attempt()
    assert attempt.is_test and attempt.outcome == "success"
    assert "encrypted to Portico's certificate" in attempt.message


def test_an_unreadable_signing_key_is_a_clear_page_not_a_500(acme, settings):
    from cryptography.fernet import Fernet

    settings.PORTICO_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    sp_key_pair_ensure(tenant=acme)
    _options(acme, sign_authn_requests=True)
    settings.PORTICO_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone
    response = client_for("acme.localhost").get("/sso/login/?next=/")
    assert response.status_code == 503 and b"start right now" in response.content


def test_an_encrypted_response_signs_in_once_and_answers_only_its_own_request(acme, acme_idp):
    client = client_for("acme.localhost")
    xml = _encrypted_response(client, acme_idp, sp_published_certificates(tenant=acme)[0], email="once@acme.example")
    assert _post(client, xml).status_code == 302
    other = client_for("acme.localhost")
    sso_start(other)  # a browser with a saml session of its own, which never issued that request
    assert _post(other, xml).status_code == 403
    assert _last_attempt().code == "unknown_request"



def test_an_unsolicited_encrypted_response_is_consumed_once(acme, acme_idp):
    _options(acme, allow_idp_initiated=True)
    client = client_for("acme.localhost")
    sso_start(client)  # the saml session cookie
    sp = sp_endpoints(host="acme.localhost")
    xml = acme_idp.build_response(acs_url=sp.acs_url, audience=sp.entity_id, email="tile@acme.example",
                                  encrypt=Encryption(certificate_pem=sp_published_certificates(tenant=acme)[0]))
    assert _post(client, xml).status_code == 302
    second = client_for("acme.localhost")
    sso_start(second)
    assert _post(second, xml).status_code == 403
    assert _last_attempt().code == "replay"


def test_the_settings_page_warns_of_an_expiring_sp_certificate_until_it_is_renewed(acme):
    admin = signed_in("acme.localhost", "acme", _client_admin())
    key = sp_key_pair_ensure(tenant=acme)
    SpKeyPair.objects.filter(pk=key.pk).update(not_after=timezone.now() + timedelta(days=3))
    assert "ask Portico support for a new certificate" in admin.get("/sso/settings/").content.decode()
    new = sp_key_pair_rotate(tenant=acme, actor="cli")
    page = admin.get("/sso/settings/").content.decode()
    assert "ask Portico support for a new certificate" not in page
    assert new.fingerprint_sha256 in page and "New: signs from" in page and "Signs now" in page


def test_a_redirect_url_needs_exactly_one_saml_message():
    with pytest.raises(ValueError, match="exactly one"):
        redirect_url_sign(url="https://idp.example/sso?RelayState=x", private_key_pem=b"")
    with pytest.raises(ValueError, match="exactly one"):
        redirect_url_sign(url="https://idp.example/sso?SAMLRequest=a&SAMLResponse=b", private_key_pem=b"")
