"""The test IdP's output must satisfy a stock pysaml2 SP, the way an Entra response does.

Pure pytest, no Django:
    .venv/bin/python -m pytest -p no:django -p no:cacheprovider tests/sso/test_testidp.py -q
"""
from __future__ import annotations

import base64
import io
import stat
import threading
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.util import setup_testing_defaults

import lxml.html
import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError, SigverError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from testidp import claims, logout
from testidp.__main__ import main as run_cli
from testidp.app import make_wsgi_app
from testidp.errors import InvalidAuthnRequest
from testidp.idp import TestIdP
from testidp.keys import CERT_FILENAME, KEY_FILENAME, KeyPair, generate_keypair, load_or_create_keypair
from testidp.scenarios import SCENARIOS, scenario_overrides
from testidp.server import serve_in_thread

SP_ENTITY_ID = "https://acme.portico.test/saml/metadata/"
ACS_URL = "https://acme.portico.test/saml/acs/"
EMAIL = "alice@acme.example"

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}

pytestmark = pytest.mark.filterwarnings("ignore:.*accepts unsigned SAML Responses:UserWarning")


# --- fixtures and helpers ---


@pytest.fixture(scope="module")
def keypair() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def idp(keypair: KeyPair) -> TestIdP:
    return TestIdP("http://idp.test:8010", keypair)


def make_sp(idp: TestIdP, **sp_options: Any) -> Saml2Client:
    """A stock pysaml2 SP that trusts `idp` through its metadata, nothing else."""
    sp: dict[str, Any] = {
        "endpoints": {"assertion_consumer_service": [(ACS_URL, BINDING_HTTP_POST)]},
        "allow_unsolicited": False,
        # pysaml2 defaults to want_response_signed=True, which refuses Entra's default
        # (assertion-only) signing; ask for "either" and let each test tighten it.
        "want_response_signed": False,
        "want_assertions_or_response_signed": True,
    }
    sp.update(sp_options)
    config = SPConfig()
    config.load(
        {
            "entityid": SP_ENTITY_ID,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": [idp.metadata_xml()]},
            # Without this pysaml2 silently drops the Entra claims it has no converter for.
            "allow_unknown_attributes": True,
            "service": {"sp": sp},
        }
    )
    return Saml2Client(config=config)


def build_b64(idp: TestIdP, **kwargs: Any) -> str:
    return idp.build_response_b64(**{"acs_url": ACS_URL, "audience": SP_ENTITY_ID, "email": EMAIL, **kwargs})


def sp_accepts(client: Saml2Client, saml_response_b64: str, outstanding: dict[str, str] | None = None) -> Any:
    response = client.parse_authn_request_response(saml_response_b64, BINDING_HTTP_POST, outstanding=outstanding)
    assert response is not None
    return response


def redirect_authn_request(client: Saml2Client, idp: TestIdP, relay_state: str = "/after-login") -> tuple[str, str]:
    """A real HTTP-Redirect AuthnRequest from pysaml2: (request id, IdP URL with query)."""
    request_id, info = client.prepare_for_authenticate(
        entityid=idp.entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
    )
    location = dict(info["headers"])["Location"]
    return request_id, location


def call_app(
    idp: TestIdP, method: str, path: str, *, query: str = "", form: dict[str, str] | None = None
) -> tuple[str, dict[str, str], str]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    if form is not None:
        body = urlencode(form).encode()
        environ.update(
            {
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
        )
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured.update(status=status, headers=dict(headers))

    body_bytes = b"".join(make_wsgi_app(idp)(environ, start_response))
    return captured["status"], captured["headers"], body_bytes.decode()


def form_fields(page: str) -> tuple[lxml.html.FormElement, dict[str, str]]:
    form = lxml.html.fromstring(page).forms[0]
    return form, {name: value for name, value in form.form_values()}


# --- responses accepted by a stock pysaml2 SP ---


def test_assertion_signed_response_is_accepted_with_entra_claims(idp: TestIdP) -> None:
    client = make_sp(idp, want_assertions_signed=True, allow_unsolicited=True)

    response = sp_accepts(client, build_b64(idp, groups=["staff", "admins"], first_name="Alice", last_name="Liddell"))

    assert response.name_id.text == EMAIL
    assert response.issuer() == idp.entity_id
    identity = response.get_identity()
    # pysaml2's built-in ADFS map renames the xmlsoap claims; Microsoft's own stay as URIs.
    assert identity["emailAddress"] == [EMAIL]
    assert identity["givenName"] == ["Alice"]
    assert identity["surname"] == ["Liddell"]
    assert identity[claims.TENANT_ID] == [idp.tenant_id]
    assert identity[claims.DISPLAY_NAME] == ["Alice Liddell"]
    assert identity[claims.GROUPS] == ["staff", "admins"]
    assert len(identity[claims.OBJECT_ID][0]) == 36


def test_response_signed_response_is_accepted(idp: TestIdP) -> None:
    client = make_sp(idp, want_response_signed=True, allow_unsolicited=True)

    response = sp_accepts(client, build_b64(idp, sign_assertion=False, sign_response=True))

    assert response.name_id.text == EMAIL
    assert response.get_identity()["emailAddress"] == [EMAIL]


def test_response_and_assertion_both_signed_is_accepted(idp: TestIdP) -> None:
    client = make_sp(idp, want_response_signed=True, want_assertions_signed=True, allow_unsolicited=True)

    response = sp_accepts(client, build_b64(idp, sign_response=True))

    assert response.name_id.text == EMAIL


def test_sp_initiated_response_is_accepted_when_request_is_outstanding(idp: TestIdP) -> None:
    client = make_sp(idp)
    request_id, location = redirect_authn_request(client, idp)
    query = parse_qs(urlsplit(location).query)
    request = idp.parse_authn_request(query["SAMLRequest"][0], query["RelayState"][0])

    saml_response = build_b64(idp, in_response_to=request.id, acs_url=request.acs_url, audience=request.issuer)

    response = sp_accepts(client, saml_response, outstanding={request_id: "/after-login"})
    assert response.in_response_to == request_id
    assert response.came_from == "/after-login"


def test_sp_initiated_response_is_rejected_when_request_is_not_outstanding(idp: TestIdP) -> None:
    client = make_sp(idp)

    with pytest.raises(UnsolicitedResponse):
        client.parse_authn_request_response(
            build_b64(idp, in_response_to="_never-issued"), BINDING_HTTP_POST, outstanding={"_other": "/"}
        )


# --- responses a stock pysaml2 SP must refuse ---


@pytest.mark.parametrize("signing", [{}, {"sign_assertion": False, "sign_response": True}, {"sign_response": True}])
def test_response_signed_by_another_key_is_rejected(idp: TestIdP, signing: dict[str, bool]) -> None:
    client = make_sp(idp, allow_unsolicited=True)
    attacker = generate_keypair("Attacker")

    with pytest.raises(SignatureError):
        client.parse_authn_request_response(
            build_b64(idp, signing_keypair=attacker, **signing), BINDING_HTTP_POST
        )


def test_signature_of_another_key_carries_that_keys_certificate(idp: TestIdP) -> None:
    attacker = generate_keypair("Attacker")

    xml = idp.build_response(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, signing_keypair=attacker)

    doc = etree.fromstring(xml)

    assert doc.findtext(".//ds:X509Certificate", namespaces=NS) == attacker.cert_base64


@pytest.mark.parametrize(
    ("scenario", "error", "message"),
    [
        ("expired", ResponseLifetimeExceed, "too old"),
        ("not-yet-valid", ToEarly, "yet"),
        ("wrong-key", SignatureError, "Failed to verify signature"),
        # pysaml2 raises a bare Exception for a foreign audience.
        ("wrong-audience", Exception, "AudienceRestrictions"),
        ("unsigned", SigverError, "Neither the response nor the assertions are signed"),
    ],
)
def test_every_failure_scenario_is_rejected_by_pysaml2_for_its_reason(
    idp: TestIdP, scenario: str, error: type[Exception], message: str
) -> None:
    client = make_sp(idp, allow_unsolicited=True)
    kwargs = {"acs_url": ACS_URL, "audience": SP_ENTITY_ID, "email": EMAIL, **scenario_overrides(scenario)}

    with pytest.raises(error, match=message):
        client.parse_authn_request_response(idp.build_response_b64(**kwargs), BINDING_HTTP_POST)


def test_every_scenario_offered_is_covered() -> None:
    assert set(SCENARIOS) == {"ok", "expired", "not-yet-valid", "wrong-key", "wrong-audience", "unsigned"}


def test_ok_scenario_is_accepted_by_pysaml2(idp: TestIdP) -> None:
    client = make_sp(idp, allow_unsolicited=True)
    kwargs = {"acs_url": ACS_URL, "audience": SP_ENTITY_ID, "email": EMAIL, **scenario_overrides("ok")}

    assert sp_accepts(client, idp.build_response_b64(**kwargs)).name_id.text == EMAIL


def test_error_status_is_reported_as_such(idp: TestIdP) -> None:
    client = make_sp(idp, allow_unsolicited=True)
    saml_response = build_b64(idp, status_code="urn:oasis:names:tc:SAML:2.0:status:Requester")

    with pytest.raises(StatusError):
        client.parse_authn_request_response(saml_response, BINDING_HTTP_POST)


# --- response shape (what Entra sends) ---


def test_response_has_entra_shape_with_signature_after_issuer(idp: TestIdP) -> None:
    instant = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

    doc = etree.fromstring(
        idp.build_response(
            acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, in_response_to="_req", issue_instant=instant
        )
    )

    assert doc.tag == f"{{{NS['samlp']}}}Response"
    assert doc.get("Destination") == ACS_URL and doc.get("InResponseTo") == "_req"
    assert doc.get("IssueInstant") == "2030-01-02T03:04:05.678Z"
    assert doc.find("ds:Signature", NS) is None  # Entra signs only the assertion by default
    assert doc.find("samlp:Status/samlp:StatusCode", NS).get("Value").endswith(":Success")
    (assertion,) = doc.findall("saml:Assertion", NS)
    assert [etree.QName(child).localname for child in assertion] == [
        "Issuer", "Signature", "Subject", "Conditions", "AttributeStatement", "AuthnStatement"
    ]
    signed_info = assertion.find("ds:Signature/ds:SignedInfo", NS)
    c14n = signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm")
    assert c14n == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm").endswith("#rsa-sha256")
    assert signed_info.find("ds:Reference", NS).get("URI") == "#" + assertion.get("ID")
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id.text == EMAIL and name_id.get("Format").endswith(":emailAddress")
    confirmation_data = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert confirmation_data.attrib == {
        "InResponseTo": "_req", "NotOnOrAfter": "2030-01-02T03:09:05.678Z", "Recipient": ACS_URL
    }
    conditions = assertion.find("saml:Conditions", NS)
    assert conditions.get("NotBefore") == "2030-01-02T02:59:05.678Z"
    assert conditions.findtext("saml:AudienceRestriction/saml:Audience", namespaces=NS) == SP_ENTITY_ID
    names = [a.get("Name") for a in assertion.findall("saml:AttributeStatement/saml:Attribute", NS)]
    assert {claims.TENANT_ID, claims.OBJECT_ID, claims.DISPLAY_NAME, claims.GIVEN_NAME, claims.SURNAME,
            claims.EMAIL, claims.NAME} <= set(names)
    assert claims.GROUPS not in names
    assert assertion.find("saml:AuthnStatement", NS).get("SessionIndex") == assertion.get("ID")


def test_signed_response_puts_its_signature_after_issuer_too(idp: TestIdP) -> None:
    doc = etree.fromstring(idp.build_response(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, sign_response=True))

    assert [etree.QName(child).localname for child in doc] == ["Issuer", "Signature", "Status", "Assertion"]


def test_overrides_can_remove_claims_and_omit_destination(idp: TestIdP) -> None:
    doc = etree.fromstring(
        idp.build_response(
            acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, destination=None,
            attributes={claims.EMAIL: [], "urn:extra": ["x"]}, name_id="other@acme.example",
        )
    )

    names = [a.get("Name") for a in doc.iterfind(".//saml:Attribute", NS)]
    assert claims.EMAIL not in names and "urn:extra" in names
    assert "Destination" not in doc.attrib
    assert doc.findtext(".//saml:NameID", namespaces=NS) == "other@acme.example"


def test_unsigned_response_has_no_signature_and_is_refused_when_signing_is_wanted(idp: TestIdP) -> None:
    saml_response = build_b64(idp, sign_assertion=False)

    assert b"Signature" not in base64.b64decode(saml_response)
    with pytest.raises(SigverError, match="Neither the response nor the assertions are signed"):
        make_sp(idp, allow_unsolicited=True).parse_authn_request_response(saml_response, BINDING_HTTP_POST)


# --- metadata ---


def test_metadata_describes_signing_key_and_both_sso_bindings(idp: TestIdP) -> None:
    md = etree.fromstring(idp.metadata_xml())

    assert md.get("entityID") == idp.entity_id
    descriptor = md.find("md:IDPSSODescriptor", NS)
    key = descriptor.find("md:KeyDescriptor", NS)
    assert key.get("use") == "signing"
    assert key.findtext(".//ds:X509Certificate", namespaces=NS) == idp.keypair.cert_base64
    assert descriptor.findtext("md:NameIDFormat", namespaces=NS).endswith(":emailAddress")
    services = {s.get("Binding"): s.get("Location") for s in descriptor.findall("md:SingleSignOnService", NS)}
    assert services == {BINDING_HTTP_REDIRECT: idp.sso_url, BINDING_HTTP_POST: idp.sso_url}
    assert idp.metadata_xml() == idp.metadata_xml()  # stable across calls
    # Like Entra: single logout over HTTP-Redirect only.
    [slo] = descriptor.findall("md:SingleLogoutService", NS)
    assert (slo.get("Binding"), slo.get("Location")) == (BINDING_HTTP_REDIRECT, idp.slo_url)


# --- single logout ---


def test_app_answers_a_signed_logout_request_with_a_signed_logout_response(idp: TestIdP) -> None:
    sp_key = generate_keypair("SP")
    idp.register_sp(entity_id=SP_ENTITY_ID, certificate_pem=sp_key.cert_pem, slo_url="https://acme.portico.test/slo/")
    xml = logout.logout_request_xml(issuer=SP_ENTITY_ID, destination=idp.slo_url, name_id=EMAIL, request_id="_q1")
    url = logout.redirect_url(location=idp.slo_url, param="SAMLRequest", xml=xml, relay_state="rs", keypair=sp_key)
    status, headers, _ = call_app(idp, "GET", "/idp/slo", query=urlsplit(url).query)
    assert status == "302 Found" and headers["Location"].startswith("https://acme.portico.test/slo/?SAMLResponse=")
    root, relay_state = logout.verify_redirect_message(urlsplit(headers["Location"]).query, param="SAMLResponse",
                                                       certificate_pem=idp.keypair.cert_pem)
    assert root.get("InResponseTo") == "_q1" and relay_state == "rs"
    assert root.findtext("saml:Issuer", namespaces=NS) == idp.logout_issuer

    unsigned = logout.redirect_url(location=idp.slo_url, param="SAMLRequest", xml=xml, relay_state=None, keypair=None)
    assert call_app(idp, "GET", "/idp/slo", query=urlsplit(unsigned).query)[0] == "400 Bad Request"
    forged = logout.redirect_url(location=idp.slo_url, param="SAMLRequest", xml=xml, relay_state=None,
                                 keypair=generate_keypair("Not the SP"))
    assert call_app(idp, "GET", "/idp/slo", query=urlsplit(forged).query)[0] == "400 Bad Request"


def test_an_entra_like_idp_signs_in_and_logs_out_under_entras_two_issuers() -> None:
    entra = TestIdP.like_entra("http://idp.test:8010")
    assert entra.entity_id == f"https://sts.windows.net/{entra.tenant_id}/"
    assert entra.logout_issuer == f"https://login.microsoftonline.com/{entra.tenant_id}/"
    url, _ = entra.logout_request(sp_slo_url="https://acme.portico.test/slo/", name_id=EMAIL)
    root, _ = logout.verify_redirect_message(urlsplit(url).query, param="SAMLRequest",
                                             certificate_pem=entra.keypair.cert_pem)
    assert root.findtext("saml:Issuer", namespaces=NS) == entra.logout_issuer


# --- AuthnRequest parsing ---


def _deflate_b64(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def test_parse_authn_request_reads_a_pysaml2_request(idp: TestIdP) -> None:
    request_id, location = redirect_authn_request(make_sp(idp), idp, relay_state="/x")
    query = parse_qs(urlsplit(location).query)

    info = idp.parse_authn_request(query["SAMLRequest"][0], query["RelayState"][0])

    assert (info.id, info.issuer, info.acs_url, info.destination, info.relay_state) == (
        request_id, SP_ENTITY_ID, ACS_URL, idp.sso_url, "/x"
    )


@pytest.mark.parametrize(
    "saml_request",
    [
        "not base64!",
        base64.b64encode(b"not deflated").decode(),
        _deflate_b64(
            b'<!DOCTYPE r [<!ENTITY e "x">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'ID="_1" AssertionConsumerServiceURL="https://sp/acs">&e;</samlp:AuthnRequest>'
        ),
        _deflate_b64(b"<a>" + b" " * (1024 * 1024) + b"</a>"),  # inflates past the cap
        _deflate_b64(
            b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1">'
            b'<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">sp</saml:Issuer></samlp:AuthnRequest>'
        ),  # no ACS URL and no SP metadata to find one
        _deflate_b64(
            b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" '
            b'AssertionConsumerServiceURL="javascript:alert(1)">'
            b'<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">sp</saml:Issuer></samlp:AuthnRequest>'
        ),
    ],
    ids=["bad-base64", "not-deflate", "doctype", "deflate-bomb", "no-acs", "script-acs"],
)
def test_parse_authn_request_refuses_hostile_or_unusable_input(idp: TestIdP, saml_request: str) -> None:
    with pytest.raises(InvalidAuthnRequest):
        idp.parse_authn_request(saml_request, None)


# --- WSGI app ---


def test_app_serves_metadata(idp: TestIdP) -> None:
    status, headers, body = call_app(idp, "GET", "/idp/metadata")

    assert status == "200 OK"
    assert headers["Content-Type"] == "application/samlmetadata+xml"
    assert body == idp.metadata_xml()


def test_sp_initiated_flow_through_the_app_ends_in_a_response_pysaml2_accepts(idp: TestIdP) -> None:
    client = make_sp(idp)
    request_id, location = redirect_authn_request(client, idp, relay_state="/dashboard")
    url = urlsplit(location)
    assert location.startswith(idp.sso_url + "?")

    status, headers, page = call_app(idp, "GET", url.path, query=url.query)

    assert status == "200 OK" and headers["Content-Type"].startswith("text/html")
    doc = lxml.html.fromstring(page)
    assert doc.findtext(".//title") == "Test IdP — sign in"
    assert doc.get_element_by_id("email").get("name") == "email"
    assert doc.xpath("//label[@for='email']")
    assert doc.xpath("//select[@name='scenario']/option/@value") == list(SCENARIOS)
    assert doc.xpath("//button[@type='submit']/text()") == ["Sign in"]
    form, fields = form_fields(page)
    assert fields["in_response_to"] == request_id and fields["relay_state"] == "/dashboard"

    fields.update(email=EMAIL, scenario="ok")
    status, headers, page = call_app(idp, "POST", form.action, form=fields)

    assert status == "200 OK"
    post_form, posted = form_fields(page)
    assert post_form.action == ACS_URL and post_form.method.upper() == "POST"
    assert posted["RelayState"] == "/dashboard"
    assert "<noscript>" in page and "Continue" in page and ".submit()" in page
    response = sp_accepts(client, posted["SAMLResponse"], outstanding={request_id: "/dashboard"})
    assert response.name_id.text == EMAIL


def test_idp_initiated_page_posts_an_unsolicited_response(idp: TestIdP) -> None:
    query = urlencode({"acs": ACS_URL, "audience": SP_ENTITY_ID, "relay_state": "/home"})

    status, _, page = call_app(idp, "GET", "/idp/initiate", query=query)

    assert status == "200 OK"
    form, fields = form_fields(page)
    assert "in_response_to" not in fields
    fields.update(email=EMAIL)
    _, _, page = call_app(idp, "POST", form.action, form=fields)
    _, posted = form_fields(page)
    assert posted["RelayState"] == "/home"
    saml_xml = etree.fromstring(base64.b64decode(posted["SAMLResponse"]))
    assert "InResponseTo" not in saml_xml.attrib
    assert sp_accepts(make_sp(idp, allow_unsolicited=True), posted["SAMLResponse"]).name_id.text == EMAIL


def test_login_with_wrong_key_scenario_posts_a_response_pysaml2_rejects(idp: TestIdP) -> None:
    fields = {"acs_url": ACS_URL, "audience": SP_ENTITY_ID, "email": EMAIL, "scenario": "wrong-key"}

    _, _, page = call_app(idp, "POST", "/idp/sso/login", form=fields)

    _, posted = form_fields(page)
    with pytest.raises(SignatureError):
        make_sp(idp, allow_unsolicited=True).parse_authn_request_response(posted["SAMLResponse"], BINDING_HTTP_POST)


@pytest.mark.parametrize(
    ("method", "path", "query", "form", "status"),
    [
        ("GET", "/nope", "", None, "404 Not Found"),
        ("DELETE", "/idp/metadata", "", None, "405 Method Not Allowed"),
        ("GET", "/idp/sso", "", None, "400 Bad Request"),
        ("GET", "/idp/sso", "SAMLRequest=%%%", None, "400 Bad Request"),
        ("GET", "/idp/initiate", "acs=javascript:alert(1)&audience=x", None, "400 Bad Request"),
        ("POST", "/idp/sso/login", "", {"acs_url": ACS_URL, "audience": "x", "email": "no-at-sign"}, "400 Bad Request"),
        ("POST", "/idp/sso/login", "", {"acs_url": ACS_URL, "audience": "x", "email": EMAIL, "scenario": "?"},
         "400 Bad Request"),
    ],
)
def test_app_answers_bad_requests_briefly(
    idp: TestIdP, method: str, path: str, query: str, form: dict[str, str] | None, status: str
) -> None:
    got_status, headers, body = call_app(idp, method, path, query=query, form=form)

    assert got_status == status
    assert headers["Content-Type"].startswith("text/plain")
    assert "Traceback" not in body and len(body) < 200


# --- real server, keys, command line ---


@pytest.fixture
def running(keypair: KeyPair) -> Iterator[Any]:
    running = serve_in_thread(lambda base_url: TestIdP(base_url, keypair))
    yield running
    running.stop()


def test_serve_in_thread_builds_the_idp_with_the_bound_port(running: Any) -> None:
    assert running.idp.base_url == running.base_url
    assert running.base_url.startswith("http://127.0.0.1:") and not running.base_url.endswith(":0")

    with urllib.request.urlopen(f"{running.base_url}/idp/metadata", timeout=5) as response:
        metadata = response.read().decode()

    assert etree.fromstring(metadata).get("entityID") == running.idp.entity_id == f"{running.base_url}/idp/metadata"


def test_keypair_is_persisted_and_reused(tmp_path: Path) -> None:
    first = load_or_create_keypair(tmp_path / "state")
    second = load_or_create_keypair(tmp_path / "state")

    assert first == second
    assert stat.S_IMODE((tmp_path / "state" / KEY_FILENAME).stat().st_mode) == 0o600
    assert (tmp_path / "state" / CERT_FILENAME).read_text() == first.cert_pem
    assert TestIdP("http://x", first).metadata_xml() == TestIdP("http://x", second).metadata_xml()


def test_generate_keypair_honours_validity_window() -> None:
    from cryptography import x509

    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    pair = generate_keypair("Old", valid_from=start, valid_until=start + timedelta(days=1))

    cert = x509.load_pem_x509_certificate(pair.cert_pem.encode())
    assert cert.not_valid_after_utc == start + timedelta(days=1)
    assert cert.subject.rfc4514_string() == "CN=Old"


def test_command_line_writes_metadata_with_the_persisted_certificate(tmp_path: Path) -> None:
    out = tmp_path / "md" / "testidp.xml"

    code = run_cli(
        ["--base-url", "http://localhost:8010", "--state-dir", str(tmp_path / "state"), "--write-metadata", str(out)]
    )

    assert code == 0
    md = etree.fromstring(out.read_bytes())
    assert md.get("entityID") == "http://localhost:8010/idp/metadata"
    persisted = load_or_create_keypair(tmp_path / "state")
    assert md.findtext(".//ds:X509Certificate", namespaces=NS) == persisted.cert_base64


def test_an_unregistered_sp_is_read_from_its_metadata_at_its_entity_id(idp: TestIdP) -> None:
    sp_key = generate_keypair("SP from metadata")
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            body = documents.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        entity_id = f"http://127.0.0.1:{server.server_address[1]}/sso/metadata/"
        md = NS["md"]
        documents["/sso/metadata/"] = (
            f'<md:EntityDescriptor xmlns:md="{md}" xmlns:ds="{NS["ds"]}" entityID="{entity_id}">'
            f'<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sp_key.cert_base64}'
            f"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" Location="https://sp.test/slo/"/>'
            f"</md:SPSSODescriptor></md:EntityDescriptor>").encode()
        xml = logout.logout_request_xml(issuer=entity_id, destination=idp.slo_url, name_id=EMAIL, request_id="_m1")
        url = logout.redirect_url(location=idp.slo_url, param="SAMLRequest", xml=xml, relay_state=None, keypair=sp_key)
        status, headers, _ = call_app(idp, "GET", "/idp/slo", query=urlsplit(url).query)
        assert status == "302 Found" and headers["Location"].startswith("https://sp.test/slo/?SAMLResponse=")
        documents["/sso/metadata/"] = documents["/sso/metadata/"].replace(sp_key.cert_base64.encode(), b"")
        status, _, body = call_app(idp, "GET", "/idp/slo", query=urlsplit(url).query)
        assert status == "400 Bad Request" and "publishes no signing certificate" in body
    finally:
        server.shutdown()
        server.server_close()
