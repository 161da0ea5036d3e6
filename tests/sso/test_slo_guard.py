"""sso.slo_guard on its own (no Django, no HTTP): the logout messages it builds and every check it makes,
with real signed messages from the test IdP. Each refusal test trips exactly one check."""
from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from saml2.sigver import RSACrypto, verify_redirect_signature

from sso.saml_guard import SamlRejected
from sso.slo import idp_logout_issuers
from sso.slo_guard import (
    logout_request_xml,
    logout_response_xml,
    redirect_url_signed,
    verify_logout_post,
    verify_logout_redirect,
)
from testidp import logout as idp_logout
from testidp.idp import BINDING_HTTP_POST, TestIdP
from testidp.keys import generate_keypair

SLO = "https://acme.portico.test/sso/slo/"
SP_ENTITY = "https://acme.portico.test/sso/metadata/"
SP_KEY = generate_keypair("Portico SP acme")


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP("http://idp.test")


def _redirect(idp: TestIdP, url: str, **kwargs):
    return verify_logout_redirect(raw_query=urlsplit(url).query, idp_certificates=[idp.keypair.cert_pem],
                                  expected_issuers={idp.entity_id}, slo_url=SLO, **kwargs)


def _post(idp: TestIdP, value: str, param: str = "SAMLRequest"):
    return verify_logout_post(param=param, value=value, relay_state=None, idp_certificates=[idp.keypair.cert_pem],
                              expected_issuers={idp.entity_id}, slo_url=SLO)


def _code(call) -> str:
    with pytest.raises(SamlRejected) as refused:
        call()
    return refused.value.code


def test_a_signed_logout_request_reads_issuer_name_and_session_index(idp):
    url, request_id = idp.logout_request(sp_slo_url=SLO, name_id="pat@acme.example", session_index="_s1",
                                         relay_state="r/1")
    message = _redirect(idp, url)
    assert (message.kind, message.message_id, message.issuer, message.name_id) == (
        "request", request_id, idp.entity_id, "pat@acme.example")
    assert message.session_indexes == ("_s1",) and message.relay_state == "r/1" and message.signed


def test_the_signature_is_checked_over_the_query_string_as_received_not_re_encoded(idp):
    # A sender escaping with lower-case hex (%2b, %2f) signs those very octets; decoding and re-encoding
    # them (upper-case) would check something else and refuse a genuine message.
    xml = idp_logout.logout_request_xml(issuer=idp.entity_id, destination=SLO, name_id="low@acme.example",
                                        request_id="_lower")
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = base64.b64encode(deflater.compress(xml.encode()) + deflater.flush()).decode()
    query = f"SAMLRequest={quote(payload, safe='').replace('%2B', '%2b').replace('%2F', '%2f')}"
    query += f"&SigAlg={quote(idp_logout.RSA_SHA256, safe='').lower()}"
    key = serialization.load_pem_private_key(idp.keypair.key_pem.encode(), password=None)
    signature = base64.b64encode(key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    assert "%2b" in query or "%2f" in query
    message = verify_logout_redirect(raw_query=f"{query}&Signature={quote(signature, safe='')}",
                                     idp_certificates=[idp.keypair.cert_pem], expected_issuers={idp.entity_id},
                                     slo_url=SLO)
    assert message.name_id == "low@acme.example"


def test_portico_signs_its_logout_request_so_that_stock_pysaml2_verifies_it_too():
    xml = logout_request_xml(request_id="_r1", issuer=SP_ENTITY, destination="https://idp.test/slo",
                             name_id="pat@acme.example", name_id_format=None, session_index="_s1",
                             now=datetime.now(UTC))
    url = redirect_url_signed(location="https://idp.test/slo", param="SAMLRequest", xml=xml, relay_state="x y",
                              private_key_pem=SP_KEY.key_pem.encode())
    fields = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert verify_redirect_signature(fields, RSACrypto(None), cert=SP_KEY.cert_base64)
    info = idp_logout.verify_redirect_request(urlsplit(url).query, sp_certificate_pem=SP_KEY.cert_pem)
    assert (info.id, info.name_id, info.session_index, info.relay_state) == ("_r1", "pat@acme.example", "_s1", "x y")


def test_portico_logout_response_answers_the_request_and_verifies_at_the_idp():
    xml = logout_response_xml(response_id="_a1", issuer=SP_ENTITY, destination="https://idp.test/slo",
                              in_response_to="_r9", now=datetime.now(UTC))
    url = redirect_url_signed(location="https://idp.test/slo", param="SAMLResponse", xml=xml, relay_state=None,
                              private_key_pem=SP_KEY.key_pem.encode())
    root, _ = idp_logout.verify_redirect_message(urlsplit(url).query, param="SAMLResponse",
                                                 certificate_pem=SP_KEY.cert_pem)
    assert root.get("InResponseTo") == "_r9"


def test_an_unsigned_logout_request_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example", sign=False)
    assert _code(lambda: _redirect(idp, url)) == "unsigned"


def test_a_sigalg_without_a_signature_is_refused_even_on_a_response(idp):
    url = idp.logout_response(sp_slo_url=SLO, in_response_to="_r", sign=False) + "&SigAlg=x"
    assert _code(lambda: _redirect(idp, url)) == "unsigned"


def test_an_unsigned_logout_response_is_read_as_unverified(idp):
    message = _redirect(idp, idp.logout_response(sp_slo_url=SLO, in_response_to="_r", sign=False))
    assert (message.kind, message.in_response_to, message.signed) == ("response", "_r", False)
    assert message.status == "urn:oasis:names:tc:SAML:2.0:status:Success"


def test_sha1_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example")
    sha1 = quote("http://www.w3.org/2000/09/xmldsig#rsa-sha1", safe="")
    query = urlsplit(url).query
    sig_alg = next(p for p in query.split("&") if p.startswith("SigAlg="))
    assert _code(lambda: _redirect(idp, url.replace(sig_alg, f"SigAlg={sha1}"))) == "unsupported_algorithm"


def test_a_parameter_given_twice_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example")
    assert _code(lambda: _redirect(idp, url + "&RelayState=again&RelayState=x")) == "malformed"


def test_a_request_from_the_future_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example",
                                issue_instant=datetime.now(UTC) + timedelta(hours=1))
    assert _code(lambda: _redirect(idp, url)) == "not_yet_valid"


def test_a_signed_request_without_destination_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example", destination=None)
    assert _code(lambda: _redirect(idp, url)) == "destination_mismatch"


def test_a_comment_inside_the_name_id_is_refused(idp):
    xml = idp_logout.logout_request_xml(issuer=idp.entity_id, destination=SLO, name_id="PLACEHOLDER",
                                        request_id="_c").replace("PLACEHOLDER", "pat@acme.example<!---->.evil")
    url = idp_logout.redirect_url(location=SLO, param="SAMLRequest", xml=xml, relay_state=None, keypair=idp.keypair)
    assert _code(lambda: _redirect(idp, url)) == "comment_injection"


def test_a_deflate_bomb_is_refused_before_parsing(idp):
    xml = idp_logout.logout_request_xml(issuer=idp.entity_id, destination=SLO, name_id="p@acme.example",
                                        request_id="_big").replace("</samlp:LogoutRequest>",
                                                                   " " * 200_000 + "</samlp:LogoutRequest>")
    url = idp_logout.redirect_url(location=SLO, param="SAMLRequest", xml=xml, relay_state=None, keypair=idp.keypair)
    assert len(unquote(urlsplit(url).query)) < 64 * 1024
    assert _code(lambda: _redirect(idp, url)) == "too_large"


def test_a_posted_signed_logout_request_is_verified_as_an_enveloped_signature(idp):
    value, request_id = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example", binding=BINDING_HTTP_POST)
    message = _post(idp, value)
    assert (message.message_id, message.name_id, message.signed) == (request_id, "p@acme.example", True)


def test_a_posted_logout_request_changed_after_signing_is_refused(idp):
    value, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example", binding=BINDING_HTTP_POST)
    xml = base64.b64decode(value).replace(b"p@acme.example", b"q@acme.example")
    assert _code(lambda: _post(idp, base64.b64encode(xml).decode())) == "signature_invalid"


def test_a_posted_logout_request_with_its_signature_moved_off_the_root_is_refused(idp):
    value, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example", binding=BINDING_HTTP_POST)
    xml = base64.b64decode(value).decode()
    start, end = xml.index("<ds:Signature"), xml.index("</ds:Signature>") + len("</ds:Signature>")
    signature = xml[start:end]
    moved = (xml[:start] + xml[end:]).replace("</samlp:LogoutRequest>", f"<samlp:Extensions>{signature}</samlp:Extensions>"
                          "</samlp:LogoutRequest>")
    assert _code(lambda: _post(idp, base64.b64encode(moved.encode()).decode())) == "signature_wrapping"


def test_a_logout_message_of_the_wrong_kind_is_refused(idp):
    value = idp.logout_response(sp_slo_url=SLO, in_response_to="_r", binding=BINDING_HTTP_POST)
    assert _code(lambda: _post(idp, value, param="SAMLRequest")) == "malformed"


def test_entras_logout_issuer_is_the_only_sibling_accepted():
    entra = TestIdP.like_entra("https://login.microsoftonline.test")
    assert idp_logout_issuers(entity_id=entra.entity_id) == {entra.entity_id, entra.logout_issuer}
    assert entra.logout_issuer == f"https://login.microsoftonline.com/{entra.tenant_id}/"
    assert idp_logout_issuers(entity_id="https://idp.example/") == {"https://idp.example/"}


def test_an_xml_signature_inside_a_redirect_message_proves_nothing(idp):
    # Signed the HTTP-POST way, sent the HTTP-Redirect way without the query signature.
    posted = base64.b64decode(idp.logout_response(sp_slo_url=SLO, in_response_to="_r", binding=BINDING_HTTP_POST))
    url = idp_logout.redirect_url(location=SLO, param="SAMLResponse", xml=posted.decode(), relay_state=None,
                                  keypair=None)
    assert _code(lambda: _redirect(idp, url)) == "unsigned"


def _signed_redirect(idp: TestIdP, xml: str, param: str = "SAMLRequest") -> str:
    return idp_logout.redirect_url(location=SLO, param=param, xml=xml, relay_state=None, keypair=idp.keypair)


def _request_xml(idp: TestIdP, **kwargs) -> str:
    return idp_logout.logout_request_xml(issuer=idp.entity_id, destination=SLO, name_id="p@acme.example",
                                         request_id="_x", **kwargs)


def test_a_query_string_that_is_not_url_encoded_ascii_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example")
    assert _code(lambda: _redirect(idp, url + "&RelayState=é")) == "malformed"


def test_a_signature_that_is_not_base64_is_refused(idp):
    url, _ = idp.logout_request(sp_slo_url=SLO, name_id="p@acme.example")
    signature = next(p for p in urlsplit(url).query.split("&") if p.startswith("Signature="))
    assert _code(lambda: _redirect(idp, url.replace(signature, "Signature=%21%21"))) == "signature_invalid"


def test_a_redirect_message_that_is_not_deflated_is_refused(idp):
    plain = base64.b64encode(_request_xml(idp).encode()).decode()
    query = f"SAMLRequest={quote(plain, safe='')}&SigAlg={quote(idp_logout.RSA_SHA256, safe='')}"
    key = serialization.load_pem_private_key(idp.keypair.key_pem.encode(), password=None)
    signature = base64.b64encode(key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    assert _code(lambda: _redirect(idp, f"{SLO}?{query}&Signature={quote(signature, safe='')}")) == "malformed"


def test_a_logout_request_naming_nobody_is_refused(idp):
    xml = _request_xml(idp)
    start = xml.index("<saml:NameID")
    xml = xml[:start] + xml[xml.index("</saml:NameID>") + len("</saml:NameID>"):]
    assert _code(lambda: _redirect(idp, _signed_redirect(idp, xml))) == "missing_subject"


def test_a_logout_request_naming_an_encrypted_id_is_refused(idp):
    xml = _request_xml(idp).replace("<saml:NameID", "<saml:EncryptedID/><saml:NameID", 1)
    assert _code(lambda: _redirect(idp, _signed_redirect(idp, xml))) == "malformed"


def test_a_logout_request_past_its_not_on_or_after_is_refused(idp):
    xml = _request_xml(idp, not_on_or_after=datetime.now(UTC) - timedelta(minutes=3))
    assert _code(lambda: _redirect(idp, _signed_redirect(idp, xml))) == "expired"


def test_a_logout_request_without_issue_instant_is_refused(idp):
    xml = _request_xml(idp)
    start = xml.index(' IssueInstant="')
    xml = xml[:start] + xml[xml.index('"', start + len(' IssueInstant="')) + 1:]
    assert _code(lambda: _redirect(idp, _signed_redirect(idp, xml))) == "malformed"


def test_a_logout_response_answering_nothing_is_refused(idp):
    xml = idp_logout.logout_response_xml(issuer=idp.entity_id, destination=SLO, in_response_to="_r",
                                         response_id="_a").replace(' InResponseTo="_r"', "")
    assert _code(lambda: _redirect(idp, _signed_redirect(idp, xml, "SAMLResponse"))) == "in_response_to_mismatch"
