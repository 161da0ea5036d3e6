"""The test IdP's token encryption and its check of signed requests, against stock pysaml2 + xmlsec1
(a third implementation: Portico decrypts with the xmlsec binding, the IdP encrypts with cryptography).

Pure pytest, no Django.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from testidp.__main__ import _parse_args, _sp_certificate
from testidp.encryption import CONTENT_ALGORITHMS, KEY_TRANSPORTS, Encryption, sp_encryption_certificate
from testidp.errors import InvalidAuthnRequest, InvalidInput
from testidp.idp import TestIdP
from testidp.keys import KeyPair, generate_keypair

SP_ENTITY_ID = "https://acme.portico.test/saml/metadata/"
ACS_URL = "https://acme.portico.test/saml/acs/"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture(scope="module")
def sp_key() -> KeyPair:
    return generate_keypair("Stock SP")


@pytest.fixture
def idp() -> TestIdP:
    return TestIdP("http://idp.test:8010")


def stock_sp(idp: TestIdP, sp_key: KeyPair, tmp_path: Path, **sp_options: Any) -> Saml2Client:
    # pysaml2 reads keys from files only; these are throw-away test keys in the test's own directory.
    key_file, cert_file = tmp_path / "sp-key.pem", tmp_path / "sp-cert.pem"
    key_file.write_text(sp_key.key_pem)
    cert_file.write_text(sp_key.cert_pem)
    config = SPConfig()
    config.load({
        "entityid": SP_ENTITY_ID, "xmlsec_binary": "/usr/bin/xmlsec1", "allow_unknown_attributes": True,
        "metadata": {"inline": [idp.metadata_xml()]},
        "key_file": str(key_file), "cert_file": str(cert_file),
        "encryption_keypairs": [{"key_file": str(key_file), "cert_file": str(cert_file)}],
        "service": {"sp": {"endpoints": {"assertion_consumer_service": [(ACS_URL, BINDING_HTTP_POST)]},
                           "allow_unsolicited": True, "want_response_signed": False,
                           "want_assertions_or_response_signed": True, **sp_options}},
    })
    return Saml2Client(config=config)


def test_stock_pysaml2_decrypts_the_idps_default_token_encryption(idp, sp_key, tmp_path) -> None:
    idp.encrypt_for_sp(certificate_pem=sp_key.cert_pem)
    b64 = idp.build_response_b64(acs_url=ACS_URL, audience=SP_ENTITY_ID, email="ann@corp.example",
                                 encrypt=idp.encrypt_to)
    response = stock_sp(idp, sp_key, tmp_path).parse_authn_request_response(b64, BINDING_HTTP_POST)
    assert response is not None and response.get_subject().text == "ann@corp.example"


@pytest.mark.parametrize("content", sorted(CONTENT_ALGORITHMS))
@pytest.mark.parametrize("transport", sorted(KEY_TRANSPORTS))
def test_each_choice_names_its_algorithms(idp, sp_key, content, transport) -> None:
    xml = idp.build_response(acs_url=ACS_URL, audience=SP_ENTITY_ID, email="a@corp.example",
                             encrypt=Encryption(certificate_pem=sp_key.cert_pem, content=content, transport=transport))
    root = etree.fromstring(xml.encode())
    assert root.find(f"{{{SAML_NS}}}Assertion") is None
    data = root.find(f"{{{SAML_NS}}}EncryptedAssertion/{{{XENC_NS}}}EncryptedData")
    assert data.find(f"{{{XENC_NS}}}EncryptionMethod").get("Algorithm") == CONTENT_ALGORITHMS[content][0]
    method = data.find(f".//{{{XENC_NS}}}EncryptedKey/{{{XENC_NS}}}EncryptionMethod")
    assert method.get("Algorithm") == KEY_TRANSPORTS[transport]
    assert b"a@corp.example" not in xml.encode()


def test_unknown_choices_are_refused(sp_key) -> None:
    with pytest.raises(InvalidInput):
        Encryption(certificate_pem=sp_key.cert_pem, content="des-cbc")
    with pytest.raises(InvalidInput):
        Encryption(certificate_pem=sp_key.cert_pem, transport="kw-aes128")


def _sp_metadata(cert_base64: str, use: str | None) -> bytes:
    entity = etree.Element(f"{{{MD_NS}}}EntityDescriptor", entityID=SP_ENTITY_ID, nsmap={"md": MD_NS, "ds": DS_NS})
    role = etree.SubElement(entity, f"{{{MD_NS}}}SPSSODescriptor")
    descriptor = etree.SubElement(role, f"{{{MD_NS}}}KeyDescriptor", **({"use": use} if use else {}))
    data = etree.SubElement(etree.SubElement(descriptor, f"{{{DS_NS}}}KeyInfo"), f"{{{DS_NS}}}X509Data")
    etree.SubElement(data, f"{{{DS_NS}}}X509Certificate").text = cert_base64
    return etree.tostring(entity)


def test_the_encryption_certificate_is_read_from_sp_metadata(sp_key, tmp_path) -> None:
    assert sp_encryption_certificate(_sp_metadata(sp_key.cert_base64, "encryption")) == sp_key.cert_base64
    assert sp_encryption_certificate(_sp_metadata(sp_key.cert_base64, None)) == sp_key.cert_base64
    with pytest.raises(InvalidInput, match="no encryption certificate"):
        sp_encryption_certificate(_sp_metadata(sp_key.cert_base64, "signing"))
    with pytest.raises(InvalidInput, match="DTD"):
        sp_encryption_certificate(b"<!DOCTYPE x><x/>")
    path = tmp_path / "sp.xml"
    path.write_bytes(_sp_metadata(sp_key.cert_base64, "encryption"))
    assert _sp_certificate(path) == sp_key.cert_base64
    args = _parse_args(["--encrypt-to", str(path), "--encryption", "aes128-gcm", "--key-transport", "rsa-oaep"])
    assert args.encrypt_to == path and args.encryption == "aes128-gcm"


def test_a_request_pysaml2_signed_is_accepted_and_a_tampered_or_unsigned_one_refused(idp, sp_key, tmp_path) -> None:
    client = stock_sp(idp, sp_key, tmp_path, authn_requests_signed=True)
    _, info = client.prepare_for_authenticate(entityid=idp.entity_id, relay_state="/next", binding=BINDING_HTTP_REDIRECT,
                                              sign=True, sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    query = urlsplit(dict(info["headers"])["Location"]).query
    idp.sp_verification_certificate = sp_key.cert_pem
    idp.verify_redirect_signature(query)  # pysaml2's own signature, so the check follows the binding
    with pytest.raises(InvalidAuthnRequest, match="does not verify"):
        idp.verify_redirect_signature(query.replace("RelayState=%2Fnext", "RelayState=%2Fevil"))
    with pytest.raises(InvalidAuthnRequest, match="not signed"):
        idp.verify_redirect_signature(query.split("&SigAlg=")[0])
    idp.sp_verification_certificate = generate_keypair("Someone else").cert_pem
    with pytest.raises(InvalidAuthnRequest, match="does not verify"):
        idp.verify_redirect_signature(query)
