"""sso.saml_guard on EncryptedAssertion: real responses the test IdP signed and then encrypted (with
`cryptography`), decrypted by Portico (with the `xmlsec` binding), then attacked.

Nothing is mocked: each payload is genuine XML Encryption over a genuine signature.
"""
from __future__ import annotations

import base64
import copy

import pytest
from lxml import etree

from sso.saml_guard import SamlRejected, verify_saml_response
from sso.types import RejectCode, VerifiedResponse
from testidp.encryption import Encryption, encrypt_assertion
from testidp.idp import TestIdP
from testidp.keys import KeyPair, generate_keypair
from testidp.signing import sign_enveloped
from tests.sso import attacks
from tests.sso.attacks import DS_NS, SAML_NS, SAMLP_NS

XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
ACS_URL = "https://acme.portico.example/sso/acs/"
SP_ENTITY_ID = "https://acme.portico.example/sso/metadata/"
EMAIL = "alice@corp.example"
REQUEST_ID = "_request-enc-1"


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP("https://idp.corp.example")


@pytest.fixture(scope="module")
def sp() -> KeyPair:
    return generate_keypair("Portico SP acme")


@pytest.fixture(scope="module")
def other_sp() -> KeyPair:
    return generate_keypair("Portico SP globex")


def build(idp: TestIdP, sp: KeyPair, *, content: str = "aes256-cbc", transport: str = "rsa-oaep-mgf1p",
          digest: str = "sha1", **overrides: object) -> str:
    kwargs: dict[str, object] = dict(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, in_response_to=REQUEST_ID,
                                     encrypt=Encryption(certificate_pem=sp.cert_pem, content=content,
                                                        transport=transport, digest=digest))
    kwargs.update(overrides)
    return idp.build_response(**kwargs)  # type: ignore[arg-type]


def verify(idp: TestIdP, xml: str | bytes, keys: list[KeyPair], **overrides: object) -> VerifiedResponse:
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    kwargs: dict[str, object] = dict(
        saml_response=base64.b64encode(raw).decode("ascii"), idp_entity_id=idp.entity_id,
        idp_certificates=[idp.keypair.cert_pem], sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL,
        decryption_keys=[k.key_pem.encode("ascii") for k in keys],
    )
    kwargs.update(overrides)
    return verify_saml_response(**kwargs)  # type: ignore[arg-type]


def rejected(idp: TestIdP, xml: str | bytes, keys: list[KeyPair], code: RejectCode, **overrides: object) -> SamlRejected:
    with pytest.raises(SamlRejected) as info:
        verify(idp, xml, keys, **overrides)
    assert info.value.code == code, (info.value.code, info.value.detail)
    assert info.value.detail.endswith("."), "detail must be a sentence for an admin"
    return info.value


def encrypted_of(root: etree._Element) -> etree._Element:
    return root.find(f"{{{SAML_NS}}}EncryptedAssertion")


def plain_signed_assertion(idp: TestIdP, name_id: str = EMAIL) -> etree._Element:
    """A genuine signed assertion as plaintext (what an attacker who once decrypted one would hold)."""
    xml = idp.build_response(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, name_id=name_id,
                             in_response_to=REQUEST_ID)
    return copy.deepcopy(attacks.parse(xml).find(f"{{{SAML_NS}}}Assertion"))


def _replace_assertion_by(root: etree._Element, element: etree._Element) -> None:
    current = encrypted_of(root)
    if current is None:
        current = root.find(f"{{{SAML_NS}}}Assertion")
    current.addprevious(element)
    root.remove(current)


# --- every supported algorithm, whichever part is signed ---


@pytest.mark.parametrize("content", ["aes128-gcm", "aes256-gcm", "aes128-cbc", "aes256-cbc"])
@pytest.mark.parametrize(("transport", "digest"), [("rsa-oaep-mgf1p", "sha1"), ("rsa-oaep-mgf1p", "sha256"),
                                                   ("rsa-oaep", "sha1"), ("rsa-oaep", "sha256")])
def test_each_supported_algorithm_is_decrypted_and_verified(idp, sp, content, transport, digest) -> None:
    result = verify(idp, build(idp, sp, content=content, transport=transport, digest=digest), [sp])
    assert result.encrypted is True
    assert result.name_id == EMAIL and result.in_response_to == REQUEST_ID
    assert result.signed_parts == frozenset({"assertion"})
    assert result.attributes[attacks.EMAIL_CLAIM] == [EMAIL]


@pytest.mark.parametrize(("sign_assertion", "sign_response", "parts"), [
    (True, False, {"assertion"}), (False, True, {"response"}), (True, True, {"assertion", "response"})])
def test_the_decrypted_assertion_is_bound_by_either_signature(idp, sp, sign_assertion, sign_response, parts) -> None:
    xml = build(idp, sp, sign_assertion=sign_assertion, sign_response=sign_response)
    result = verify(idp, xml, [sp])
    assert result.signed_parts == frozenset(parts) and result.name_id == EMAIL
    assert "EncryptedAssertion" in result.xml and EMAIL not in result.xml  # the log keeps what was posted


def test_the_decrypted_assertion_passes_the_same_protocol_checks(idp, sp) -> None:
    rejected(idp, build(idp, sp, audience="https://elsewhere.example/"), [sp], RejectCode.audience_mismatch)
    rejected(idp, build(idp, sp, recipient="https://elsewhere.example/acs"), [sp], RejectCode.recipient_mismatch)


def test_the_old_key_still_decrypts_during_a_rotation(idp, sp, other_sp) -> None:
    # Newest first, as sso.sp_keys.sp_decryption_keys lists them: the IdP still encrypts to the old one.
    assert verify(idp, build(idp, sp), [other_sp, sp]).name_id == EMAIL


# --- refusals ---


def test_rsa_1_5_key_transport_is_refused_before_decrypting(idp, sp) -> None:
    error = rejected(idp, build(idp, sp, transport="rsa-1_5"), [sp], RejectCode.key_transport_rsa_1_5)
    assert "RSA-OAEP" in error.detail


def test_an_assertion_encrypted_to_another_tenants_key_is_refused(idp, sp, other_sp) -> None:
    error = rejected(idp, build(idp, other_sp), [sp], RejectCode.decryption_failed)
    assert "Token encryption" in error.detail


def test_no_readable_key_is_a_refusal(idp, sp) -> None:
    rejected(idp, build(idp, sp), [], RejectCode.decryption_failed)


def _tamper_cipher_value(xml: str, *, offset: int) -> str:
    root = attacks.parse(xml)
    value = encrypted_of(root).find(f"{{{XENC_NS}}}EncryptedData/{{{XENC_NS}}}CipherData/{{{XENC_NS}}}CipherValue")
    raw = bytearray(base64.b64decode(value.text))
    raw[offset] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode("ascii")
    return attacks.serialize(root)


@pytest.mark.parametrize("content", ["aes256-gcm", "aes256-cbc"])
def test_tampered_ciphertext_is_refused_cleanly(idp, sp, content) -> None:
    rejected(idp, _tamper_cipher_value(build(idp, sp, content=content), offset=-1), [sp], RejectCode.decryption_failed)


def test_a_cbc_bit_flip_that_still_decrypts_to_xml_is_refused_as_undecryptable(idp, sp) -> None:
    # Flipping a bit of the CBC IV flips the same bit of the first plaintext block, "<Assertion xmlns":
    # "xmlns" becomes "xmmns", well-formed XML whose root is no longer a SAML Assertion. Same answer as
    # any other altered ciphertext, so the answers reveal nothing about the plaintext.
    xml = build(idp, sp, content="aes256-cbc")
    rejected(idp, _tamper_cipher_value(xml, offset=13), [sp], RejectCode.decryption_failed)


def test_tampered_ciphertext_under_a_response_signature_is_refused_before_decrypting(idp, sp, other_sp) -> None:
    xml = _tamper_cipher_value(build(idp, sp, sign_assertion=False, sign_response=True), offset=-1)
    # With no key at all the answer is still the signature's: nothing was decrypted.
    rejected(idp, xml, [], RejectCode.signature_invalid)


def test_required_encryption_refuses_a_plain_assertion(idp, sp) -> None:
    plain = idp.build_response(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, in_response_to=REQUEST_ID)
    assert verify(idp, plain, [sp]).encrypted is False
    rejected(idp, plain, [sp], RejectCode.encryption_required, require_encryption=True)
    assert verify(idp, build(idp, sp), [sp], require_encryption=True).encrypted is True


def test_an_unsigned_assertion_an_attacker_encrypted_to_portico_is_refused(idp, sp) -> None:
    # Portico's certificate is public: encryption proves nothing about who wrote the assertion.
    rejected(idp, build(idp, sp, sign_assertion=False, sign_response=False), [sp], RejectCode.unsigned)


def test_a_forged_assertion_under_a_copied_signature_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    genuine = plain_signed_assertion(idp)
    genuine.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text = attacks.EVIL_NAME_ID
    _replace_assertion_by(root, encrypt_assertion(genuine, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.signature_invalid)


def test_a_second_encrypted_assertion_beside_the_signed_one_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=True))
    evil = plain_signed_assertion(idp, name_id=attacks.EVIL_NAME_ID)
    encrypted_of(root).addprevious(encrypt_assertion(evil, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.assertion_count)


def test_a_plain_assertion_beside_the_encrypted_one_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=True))
    encrypted_of(root).addnext(plain_signed_assertion(idp, name_id=attacks.EVIL_NAME_ID))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.assertion_count)


def test_replacing_the_signed_encrypted_assertion_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=True))
    evil = plain_signed_assertion(idp, name_id=attacks.EVIL_NAME_ID)
    _replace_assertion_by(root, encrypt_assertion(evil, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.signature_invalid)


def test_moving_the_signed_encrypted_assertion_into_extensions_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=True))
    genuine = encrypted_of(root)
    extensions = etree.Element(f"{{{SAMLP_NS}}}Extensions")
    genuine.addprevious(extensions)
    extensions.append(genuine)
    evil = plain_signed_assertion(idp, name_id=attacks.EVIL_NAME_ID)
    extensions.addnext(encrypt_assertion(evil, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.assertion_count)


def test_an_evil_response_wrapping_the_signed_one_is_refused(idp, sp) -> None:
    xml = build(idp, sp, sign_assertion=False, sign_response=True)
    root = attacks.parse(xml)
    wrapper = copy.deepcopy(root)
    wrapper.set("ID", attacks.EVIL_RESPONSE_ID)
    wrapper.remove(wrapper.find(f"{{{DS_NS}}}Signature"))
    _replace_assertion_by(wrapper, encrypt_assertion(plain_signed_assertion(idp, attacks.EVIL_NAME_ID),
                                                     Encryption(certificate_pem=sp.cert_pem)))
    extensions = etree.SubElement(wrapper, f"{{{SAMLP_NS}}}Extensions")
    extensions.append(root)
    rejected(idp, attacks.serialize(wrapper), [sp], RejectCode.signature_wrapping)


def test_a_signature_smuggled_into_the_encrypted_assertion_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=True))
    signature = plain_signed_assertion(idp).find(f"{{{DS_NS}}}Signature")
    encrypted_of(root).find(f"{{{XENC_NS}}}EncryptedData/{{{DS_NS}}}KeyInfo").append(signature)
    rejected(idp, attacks.serialize(root), [sp], RejectCode.signature_wrapping)


def test_signature_wrapping_inside_the_ciphertext_is_refused(idp, sp) -> None:
    # XSW4 within the plaintext: an unsigned evil Assertion holding the genuine signed one.
    genuine = plain_signed_assertion(idp)
    evil = copy.deepcopy(genuine)
    evil.remove(evil.find(f"{{{DS_NS}}}Signature"))
    evil.set("ID", attacks.EVIL_ASSERTION_ID)
    evil.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text = attacks.EVIL_NAME_ID
    evil.append(genuine)
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    _replace_assertion_by(root, encrypt_assertion(evil, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.assertion_count)


def test_a_doctype_in_the_decrypted_plaintext_is_refused(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    plaintext = b'<!DOCTYPE a [<!ENTITY x "alice@corp.example">]>' + etree.tostring(plain_signed_assertion(idp))
    fake = etree.fromstring(b"<placeholder/>")
    encrypted = encrypt_assertion(fake, Encryption(certificate_pem=sp.cert_pem, content="aes256-gcm"))
    # Re-encrypt the hostile plaintext under the same structure.
    from testidp import encryption as enc

    session_key = bytes(32)
    value = encrypted.find(f"{{{XENC_NS}}}EncryptedData/{{{XENC_NS}}}CipherData/{{{XENC_NS}}}CipherValue")
    value.text = base64.b64encode(enc._encrypt_content(plaintext, session_key, True)).decode()
    public_key, _ = enc._public_key(sp.cert_pem)
    key_value = encrypted.find(f".//{{{XENC_NS}}}EncryptedKey/{{{XENC_NS}}}CipherData/{{{XENC_NS}}}CipherValue")
    key_value.text = base64.b64encode(enc._encrypt_key(session_key, public_key, Encryption(sp.cert_pem))).decode()
    _replace_assertion_by(root, encrypted)
    rejected(idp, attacks.serialize(root), [sp], RejectCode.doctype)


def test_garbage_plaintext_is_a_decryption_failure(idp, sp) -> None:
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    not_an_assertion = etree.fromstring(b"<saml:Subject xmlns:saml='urn:oasis:names:tc:SAML:2.0:assertion'/>")
    _replace_assertion_by(root, encrypt_assertion(not_an_assertion, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.decryption_failed)


@pytest.mark.parametrize(("where", "algorithm"), [
    ("content", "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
    ("key", "http://www.w3.org/2001/04/xmlenc#kw-aes256"),
])
def test_other_encryption_algorithms_are_refused(idp, sp, where, algorithm) -> None:
    root = attacks.parse(build(idp, sp))
    data = encrypted_of(root).find(f"{{{XENC_NS}}}EncryptedData")
    method = data.find(f"{{{XENC_NS}}}EncryptionMethod") if where == "content" else data.find(
        f".//{{{XENC_NS}}}EncryptedKey/{{{XENC_NS}}}EncryptionMethod")
    method.set("Algorithm", algorithm)
    rejected(idp, attacks.serialize(root), [sp], RejectCode.encryption_algorithm)


def test_a_cipher_reference_is_never_followed(idp, sp) -> None:
    root = attacks.parse(build(idp, sp))
    cipher_data = encrypted_of(root).find(f"{{{XENC_NS}}}EncryptedData/{{{XENC_NS}}}CipherData")
    cipher_data.remove(cipher_data[0])
    etree.SubElement(cipher_data, f"{{{XENC_NS}}}CipherReference", URI="file:///etc/passwd")
    rejected(idp, attacks.serialize(root), [sp], RejectCode.encryption_algorithm)


def test_an_encrypted_id_inside_the_decrypted_assertion_is_refused(idp, sp) -> None:
    assertion = plain_signed_assertion(idp)
    name_id = assertion.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    name_id.addnext(etree.Element(f"{{{SAML_NS}}}EncryptedID"))
    name_id.getparent().remove(name_id)
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    _replace_assertion_by(root, encrypt_assertion(assertion, Encryption(certificate_pem=sp.cert_pem)))
    rejected(idp, attacks.serialize(root), [sp], RejectCode.encrypted_assertion)


def test_the_response_signature_must_cover_the_encrypted_assertion_it_holds(idp, sp) -> None:
    # Signed only over the Response while the assertion inside is not signed: the response is re-signed by
    # an attacker key, so the outer route fails and no inner signature exists.
    root = attacks.parse(build(idp, sp, sign_assertion=False, sign_response=False))
    resigned = sign_enveloped(root, root, generate_keypair("Attacker"))
    rejected(idp, etree.tostring(resigned), [sp], RejectCode.certificate_mismatch)


@pytest.mark.parametrize("where", ["EncryptedAssertion", "CipherData"])
def test_text_outside_the_values_is_refused(idp, sp, where) -> None:
    root = attacks.parse(build(idp, sp))
    element = encrypted_of(root) if where == "EncryptedAssertion" else encrypted_of(root).find(
        f"{{{XENC_NS}}}EncryptedData/{{{XENC_NS}}}CipherData")
    element.text = "smuggled"
    rejected(idp, attacks.serialize(root), [sp], RejectCode.malformed)
