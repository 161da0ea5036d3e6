"""Decrypting a saml:EncryptedAssertion (XML Encryption) in process, with the `xmlsec` binding.

Pure like sso.saml_guard (no Django, no I/O); saml_guard calls `encrypted_assertion_decrypt` and
then verifies the plaintext exactly as it verifies a plain assertion.

Why xmlsec in two explicit steps rather than one `decrypt()` with a key manager: a key manager would
let libxmlsec follow ds:KeyInfo (RetrievalMethod URIs, KeyName look-ups) and pick a key itself. Here
Portico reads the structure, refuses what it does not accept (RSA-1_5, key wrap, CipherReference),
unwraps the session key with each of the tenant's live SP keys in turn (`ctx.key` set, so KeyInfo is
never consulted), then decrypts the content with that session key. The EncryptedData's `Type` is
dropped before decrypting so that xmlsec returns the plaintext bytes instead of parsing them into the
tree: the plaintext goes through Portico's own DTD scan and hardened parser (sso.xmlsafe), never
through libxml2's default parser.

Every failure to decrypt (not to one of our keys, altered ciphertext, garbage plaintext) is one
refusal with one text, so a CBC ciphertext cannot be probed through different answers.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

# At import, not at the first encrypted sign-in: the binding refuses to load when lxml was built against
# another libxml2 (pin both from requirements.txt), and that must stop start-up, not one sign-in.
import xmlsec
from lxml import etree

from sso.types import RejectCode

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
XENC11_NS = "http://www.w3.org/2009/xmlenc11#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"

RSA_1_5 = f"{XENC_NS}rsa-1_5"
RSA_OAEP_MGF1P = f"{XENC_NS}rsa-oaep-mgf1p"
RSA_OAEP_11 = f"{XENC11_NS}rsa-oaep"
KEY_TRANSPORTS = frozenset({RSA_OAEP_MGF1P, RSA_OAEP_11})

# Content encryption and the session key length each needs.
CONTENT_ALGORITHMS: dict[str, int] = {
    f"{XENC_NS}aes128-cbc": 16,
    f"{XENC_NS}aes192-cbc": 24,
    f"{XENC_NS}aes256-cbc": 32,
    f"{XENC11_NS}aes128-gcm": 16,
    f"{XENC11_NS}aes192-gcm": 24,
    f"{XENC11_NS}aes256-gcm": 32,
}
# OAEP digests (ds:DigestMethod inside the key transport's EncryptionMethod); absent means SHA-1.
OAEP_DIGESTS = frozenset({
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmlenc#sha512",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
})
MGF_ALGORITHMS = frozenset({f"{XENC11_NS}mgf1sha1", f"{XENC11_NS}mgf1sha224", f"{XENC11_NS}mgf1sha256",
                            f"{XENC11_NS}mgf1sha384", f"{XENC11_NS}mgf1sha512"})

# ds elements that may appear inside an EncryptedAssertion (key identification); anything else from
# XML Signature there (Signature, Reference, Transforms, …) is smuggled.
_DS_ALLOWED = frozenset({"KeyInfo", "KeyName", "RetrievalMethod", "X509Data", "X509Certificate", "X509IssuerSerial",
                         "X509IssuerName", "X509SerialNumber", "X509SKI", "X509SubjectName", "DigestMethod"})
# Elements whose text is a value; every other one holds elements only (whitespace aside).
_TEXT_ELEMENTS = frozenset({"CipherValue", "OAEPparams", "KeySize", "CarriedKeyName", "KeyName", "X509Certificate",
                            "X509IssuerName", "X509SerialNumber", "X509SKI", "X509SubjectName"})
_DS_SIGNATURE_PARTS = frozenset({"Signature", "SignedInfo", "SignatureValue", "CanonicalizationMethod",
                                 "SignatureMethod", "Reference", "Transforms", "Transform", "DigestValue", "Object"})
_XENC_ALLOWED = frozenset({"EncryptedData", "EncryptedKey", "EncryptionMethod", "CipherData", "CipherValue",
                           "ReferenceList", "DataReference", "KeyReference", "CarriedKeyName", "OAEPparams",
                           "KeySize"})

DECRYPTION_FAILED = (
    "The encrypted assertion could not be decrypted with this organisation's Portico key(s): the IdP "
    "encrypts to another certificate, or the response was altered on the way. Upload the certificate shown "
    "on Portico's SSO settings page to the IdP (Entra: your Portico application > Token encryption) and activate it."
)


class DecryptionRefused(Exception):
    """Why an EncryptedAssertion was not decrypted; saml_guard turns it into a SamlRejected."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def _x(local: str) -> str:
    return f"{{{XENC_NS}}}{local}"


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


def _smuggled(local: str) -> DecryptionRefused:
    return DecryptionRefused(
        RejectCode.signature_wrapping,
        f"The EncryptedAssertion contains a ds:{local} outside any ciphertext. Portico refuses responses "
        "restructured around their signature.")


def _malformed(detail: str) -> DecryptionRefused:
    return DecryptionRefused(RejectCode.malformed, f"The EncryptedAssertion {detail}.")


def _algorithm_refused(what: str) -> DecryptionRefused:
    return DecryptionRefused(
        RejectCode.encryption_algorithm,
        f"The assertion is encrypted with {what}, which Portico does not accept. Portico decrypts AES-128/192/256 "
        "in GCM or CBC mode with the key transported by RSA-OAEP (Entra's token encryption does this).",
    )


def check_encrypted_assertion(encrypted: etree._Element) -> tuple[etree._Element, list[etree._Element]]:
    """(EncryptedData, candidate EncryptedKeys) of a structurally acceptable EncryptedAssertion, else refuse.

    SAML core §2.3.4: one EncryptedData, then any EncryptedKey elements; the key may also sit in the
    EncryptedData's ds:KeyInfo, which is where Entra puts it.
    """
    key_names = {key_info for key in encrypted.iter(_x("EncryptedKey")) for key_info in key.findall(_ds("KeyInfo"))}
    for element in encrypted.iter():
        if not isinstance(element.tag, str):
            raise _malformed("contains a comment or processing instruction")
        if element is encrypted:
            if (element.text or "").strip():
                raise _malformed("contains text outside the elements that carry values")
            continue
        qname = etree.QName(element)
        if any(ancestor in key_names for ancestor in element.iterancestors()):
            # What names the certificate an EncryptedKey was made for (X509Data, KeyName, a WS-Security
            # SecurityTokenReference, ...) is never read, so it may be anything but signature parts.
            if qname.namespace == DS_NS and qname.localname in _DS_SIGNATURE_PARTS:
                raise _smuggled(qname.localname)
            continue
        if (element.tail or "").strip() or (qname.localname not in _TEXT_ELEMENTS and (element.text or "").strip()):
            raise _malformed("contains text outside the elements that carry values")
        allowed = {DS_NS: _DS_ALLOWED, XENC_NS: _XENC_ALLOWED, XENC11_NS: {"MGF"}}.get(qname.namespace or "")
        if allowed is None or qname.localname not in allowed:
            if qname.localname == "CipherReference":
                raise _algorithm_refused("a CipherReference (ciphertext fetched from elsewhere)")
            if qname.namespace == DS_NS:
                raise _smuggled(qname.localname)
            raise _malformed(f"contains an unexpected <{qname.localname}> element")
    children = list(encrypted)
    if not children or children[0].tag != _x("EncryptedData"):
        raise _malformed("does not start with an EncryptedData element")
    if any(child.tag != _x("EncryptedKey") for child in children[1:]):
        raise _malformed("holds something other than EncryptedKey elements after its EncryptedData")
    data = children[0]
    method = data.find(_x("EncryptionMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in CONTENT_ALGORITHMS:
        raise _algorithm_refused(f"the content algorithm {algorithm or '(none named)'}")
    if len(data.findall(f"{_x('CipherData')}/{_x('CipherValue')}")) != 1:
        raise _malformed("has no single CipherValue")
    keys = data.findall(f"{_ds('KeyInfo')}/{_x('EncryptedKey')}") + children[1:]
    if not keys:
        raise _malformed("carries no EncryptedKey")
    for key in keys:
        _check_key_transport(key)
    return data, keys


def _check_key_transport(key: etree._Element) -> None:
    method = key.find(_x("EncryptionMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm == RSA_1_5:
        # Bleichenbacher's padding oracle (and Jager et al.'s attack on XML Encryption): never even try it.
        raise DecryptionRefused(
            RejectCode.key_transport_rsa_1_5,
            "The assertion's key is encrypted with RSA PKCS#1 v1.5 (xmlenc#rsa-1_5), which is breakable and "
            "which Portico refuses. Configure the IdP to use RSA-OAEP (Entra's token encryption does).",
        )
    if algorithm not in KEY_TRANSPORTS:
        raise _algorithm_refused(f"the key transport {algorithm or '(none named)'}")
    assert method is not None
    for child in method:
        if child.tag == _ds("DigestMethod") and child.get("Algorithm") not in OAEP_DIGESTS:
            raise _algorithm_refused(f"the OAEP digest {child.get('Algorithm')}")
        if child.tag == f"{{{XENC11_NS}}}MGF" and (algorithm != RSA_OAEP_11 or child.get("Algorithm") not in MGF_ALGORITHMS):
            raise _algorithm_refused(f"the OAEP mask generation {child.get('Algorithm')}")
    if len(key.findall(f"{_x('CipherData')}/{_x('CipherValue')}")) != 1:
        raise _malformed("has an EncryptedKey without a single CipherValue")


def encrypted_assertion_decrypt(encrypted: etree._Element, *, private_keys: Sequence[bytes]) -> bytes:
    """The plaintext (bytes, unparsed) of a saml:EncryptedAssertion, tried with each PEM private key."""
    data, keys = check_encrypted_assertion(encrypted)
    key_length = CONTENT_ALGORITHMS[data.find(_x("EncryptionMethod")).get("Algorithm")]
    # A detached copy without KeyInfo and Type: xmlsec then uses only the key set below and hands the
    # plaintext back as bytes.
    content = etree.fromstring(etree.tostring(data))
    for key_info in content.findall(_ds("KeyInfo")):
        content.remove(key_info)
    content.attrib.pop("Type", None)
    for pem in private_keys:
        try:
            rsa_key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem, None)
        except xmlsec.Error:
            continue
        for encrypted_key in keys:
            transport = etree.fromstring(etree.tostring(encrypted_key))
            for key_info in transport.findall(_ds("KeyInfo")):
                transport.remove(key_info)
            try:
                context = xmlsec.EncryptionContext()
                context.key = rsa_key
                session_key = context.decrypt(transport)
            except (xmlsec.Error, ValueError, TypeError):
                continue
            if not isinstance(session_key, bytes) or len(session_key) != key_length:
                continue
            try:
                context = xmlsec.EncryptionContext()
                context.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataAes, session_key)
                plaintext = context.decrypt(copy.deepcopy(content))
            except (xmlsec.Error, ValueError, TypeError):
                # The session key unwrapped under OAEP, so it is ours: the content itself was altered.
                raise DecryptionRefused(RejectCode.decryption_failed, DECRYPTION_FAILED) from None
            if not isinstance(plaintext, bytes):
                raise DecryptionRefused(RejectCode.decryption_failed, DECRYPTION_FAILED)
            return plaintext
    raise DecryptionRefused(RejectCode.decryption_failed, DECRYPTION_FAILED)
