"""No input ends in a 500 at the ACS: hostile bytes, encodings and values inside signed responses.

Each case posts to acme's ACS through the same-site bounce (as a browser would) and must get a
clean 4xx page with a reference code, no session, no user created and a failure row in the
sign-in log. The signed cases are re-signed with acme's own IdP key, so only the odd value is wrong.
"""
from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sso.models import SignInAttempt
from sso.testidp.keys import generate_keypair
from tests.conftest import client_for, sso_start
from tests.sso import attacks

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def _users() -> list[str]:
    with schema_context("acme"):
        return sorted(get_user_model().objects.values_list("username", flat=True))


def _post_raw(client, field: str, relay_state: str = "/"):
    # The bounce flag stands in for the browser's same-site re-post, so the cookie check passes.
    return client.post("/sso/acs/", {"SAMLResponse": field, "RelayState": relay_state, "portico_bounce": "1"})


def _assert_clean_refusal(client, response, users_before, code: str | None = None) -> SignInAttempt:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert b"Traceback" not in response.content
    assert client.get("/api/me").status_code == 401
    assert _users() == users_before
    attempt = SignInAttempt.objects.order_by("-created", "-id").first()
    assert attempt is not None and attempt.outcome == "failure"
    assert attempt.reference.encode() in response.content
    if code:
        assert attempt.code == code, (attempt.code, attempt.message)
    return attempt


def _signed(client, acme_idp, *, email: str = "robust@acme.example", edit=None, **kwargs) -> str:
    _, info = sso_start(client)
    xml = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email=email,
                                  in_response_to=info.id, **kwargs)
    if edit is not None:
        xml = attacks.resign_with(xml, acme_idp.keypair, name_id=None, edit=edit)
    return base64.b64encode(xml.encode()).decode()


def _set_instants(value: str):
    def edit(root: etree._Element) -> None:
        for element in root.iter(f"{{{SAML}}}Conditions", f"{{{SAML}}}SubjectConfirmationData"):
            element.set("NotOnOrAfter", value)
    return edit


@pytest.mark.parametrize("decoded", [
    b"\x00",
    "<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>".encode("utf-16"),
    zlib.compress(b"<samlp:Response/>")[2:-4],  # raw DEFLATE, as the Redirect binding would carry it
    b"\xff\xfe\xfd",
    b"<a>" * 5000,
    b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>",
], ids=["nul", "utf16", "raw-deflate", "not-utf8", "deep-nesting", "latin1-declared"])
def test_undecodable_bodies_are_refused_cleanly(acme, decoded):
    client = client_for("acme.localhost")
    before = _users()
    response = _post_raw(client, base64.b64encode(decoded).decode())
    _assert_clean_refusal(client, response, before)


@pytest.mark.parametrize("instant", [
    "2030-01-01T00:00:00+99:00",    # zone offset out of range
    "9999-12-31T23:59:59-14:00",    # overflows when brought to UTC
    "0001-01-01T00:00:00+14:00",    # underflows when brought to UTC
    "2030-02-30T00:00:00Z",         # no such day
], ids=["offset-out-of-range", "overflow", "underflow", "no-such-day"])
def test_signed_response_with_impossible_instants_is_refused_cleanly(acme, acme_idp, instant):
    client = client_for("acme.localhost")
    before = _users()
    response = _post_raw(client, _signed(client, acme_idp, edit=_set_instants(instant)))
    _assert_clean_refusal(client, response, before, code="malformed")


def test_signed_response_with_implausibly_long_lifetime_is_refused(acme, acme_idp):
    client = client_for("acme.localhost")
    before = _users()
    response = _post_raw(client, _signed(client, acme_idp, lifetime=timedelta(days=3650)))
    _assert_clean_refusal(client, response, before, code="lifetime_too_long")


def test_year_9999_not_on_or_after_is_refused_not_kept_for_ever(acme, acme_idp):
    client = client_for("acme.localhost")
    before = _users()
    response = _post_raw(client, _signed(client, acme_idp, edit=_set_instants("9999-12-31T00:00:00Z")))
    _assert_clean_refusal(client, response, before, code="lifetime_too_long")


def test_address_longer_than_rfc_5321_is_refused_before_anything_is_consumed(acme, acme_idp):
    client = client_for("acme.localhost")
    before = _users()
    long_email = "a" * 65 + "@acme.example"
    field = _signed(client, acme_idp, email=long_email, name_id=long_email)
    attempt = _assert_clean_refusal(client, _post_raw(client, field), before, code="email_invalid")
    assert attempt.email == ""
    # Nothing was consumed: the same response is refused for the same reason, not as a replay.
    again = _post_raw(client, field)
    _assert_clean_refusal(client, again, before, code="email_invalid")


def test_keyinfo_certificate_with_unknown_key_algorithm_is_refused_cleanly(acme, acme_idp):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed448
    from cryptography.hazmat.primitives.serialization import Encoding

    key = ed448.Ed448PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "odd")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, None))
    assert hashes  # Ed448 signs without a separate hash
    odd = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    client = client_for("acme.localhost")
    before = _users()
    xml = base64.b64decode(_signed(client, acme_idp)).decode()
    root = attacks.parse(attacks.change_name_id(xml, "evil@acme.example"))
    for element in root.iter("{http://www.w3.org/2000/09/xmldsig#}X509Certificate"):
        element.text = odd
    response = _post_raw(client, base64.b64encode(attacks.serialize(root).encode()).decode())
    _assert_clean_refusal(client, response, before)


def test_unknown_key_algorithm_certificate_garbage_in_keyinfo_is_refused_cleanly(acme, acme_idp):
    client = client_for("acme.localhost")
    before = _users()
    xml = base64.b64decode(_signed(client, acme_idp)).decode()
    root = attacks.parse(attacks.change_name_id(xml, "evil@acme.example"))
    bogus = generate_keypair("Bogus").cert_base64[:-40] + "AAAA"
    for element in root.iter("{http://www.w3.org/2000/09/xmldsig#}X509Certificate"):
        element.text = bogus
    response = _post_raw(client, base64.b64encode(attacks.serialize(root).encode()).decode())
    _assert_clean_refusal(client, response, before)


# --- property-based: whatever arrives, the answer is never a 5xx ---

_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@_FUZZ
@given(body=st.binary(max_size=2048))
def test_arbitrary_decoded_bytes_never_answer_5xx(acme, body):
    client = client_for("acme.localhost")
    response = _post_raw(client, base64.b64encode(body).decode())
    assert response.status_code < 500


@_FUZZ
@given(field=st.text(max_size=512), relay_state=st.text(max_size=200))
def test_arbitrary_form_text_never_answers_5xx(acme, field, relay_state):
    client = client_for("acme.localhost")
    response = _post_raw(client, field, relay_state)
    assert response.status_code < 500


_XMLISH = st.recursive(
    st.sampled_from(["<Response/>", "<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>",
                     "&amp;", "<!-- c -->", "<![CDATA[x]]>", "text", "<?pi x?>"]),
    lambda children: st.lists(children, max_size=4).map("".join).map(lambda inner: f"<e a='1'>{inner}</e>"),
    max_leaves=12,
)


@_FUZZ
@given(document=_XMLISH)
def test_arbitrary_xml_shapes_never_answer_5xx(acme, document):
    client = client_for("acme.localhost")
    response = _post_raw(client, base64.b64encode(document.encode()).decode())
    assert response.status_code < 500


# --- look-alike addresses never land in someone else's account ---


@pytest.mark.parametrize("look_alike", ["adm\u0131n@acme.example", "\u212aate@acme.example", "ADM\u0130N@acme.example"],
                         ids=["dotless-i", "kelvin-sign", "dotted-capital-I"])
def test_look_alike_address_signed_by_the_idp_does_not_sign_in_as_the_real_account(acme, acme_idp, look_alike):
    from provisioning.models import AccessLevel
    from tests.provisioning.factories import member_create

    real = member_create(email="admin@acme.example", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    member_create(email="kate@acme.example", access_level=AccessLevel.TECHNICIAN, properties=("harbour-view",))
    client = client_for("acme.localhost")
    before = _users()
    response = _post_raw(client, _signed(client, acme_idp, email=look_alike, name_id=look_alike))
    _assert_clean_refusal(client, response, before, code="email_invalid")
    with schema_context("acme"):
        real.refresh_from_db()
        assert real.last_login is None


def test_address_case_differences_in_ascii_are_the_same_person(acme, acme_idp):
    from provisioning.models import AccessLevel
    from tests.provisioning.factories import member_create

    member_create(email="admin@acme.example", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = client_for("acme.localhost")
    response = _post_raw(client, _signed(client, acme_idp, email="Admin@ACME.example", name_id="Admin@ACME.example"))
    assert response.status_code == 302
    assert client.get("/api/me").json()["email"] == "admin@acme.example"
