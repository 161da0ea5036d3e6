"""XML Encryption of assertions, the way Entra's token encryption does it, with `cryptography` only.

Deliberately not the `xmlsec` binding Portico decrypts with: a second, independent implementation of
the format is what makes the tests evidence. The session key is random per assertion; the content is
AES-GCM (IV || ciphertext || tag) or AES-CBC (IV || ciphertext, padded as XML Encryption §5.2 says);
the key is RSA-OAEP (or RSA PKCS#1 v1.5, which Portico must refuse) under the SP's certificate.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from testidp.errors import InvalidInput

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
XENC11_NS = "http://www.w3.org/2009/xmlenc11#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

# name -> (algorithm URI, key bytes, GCM?)
CONTENT_ALGORITHMS: dict[str, tuple[str, int, bool]] = {
    "aes128-gcm": (f"{XENC11_NS}aes128-gcm", 16, True),
    "aes256-gcm": (f"{XENC11_NS}aes256-gcm", 32, True),
    "aes128-cbc": (f"{XENC_NS}aes128-cbc", 16, False),
    "aes256-cbc": (f"{XENC_NS}aes256-cbc", 32, False),
}
KEY_TRANSPORTS: dict[str, str] = {
    "rsa-oaep-mgf1p": f"{XENC_NS}rsa-oaep-mgf1p",  # XML Encryption 1.0: MGF1 with SHA-1 always
    "rsa-oaep": f"{XENC11_NS}rsa-oaep",  # XML Encryption 1.1: MGF named separately
    "rsa-1_5": f"{XENC_NS}rsa-1_5",
}
DIGESTS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "sha1": ("http://www.w3.org/2000/09/xmldsig#sha1", hashes.SHA1),
    "sha256": ("http://www.w3.org/2001/04/xmlenc#sha256", hashes.SHA256),
}


@dataclass(frozen=True)
class Encryption:
    """How to encrypt an assertion, to which SP certificate; by default AES-256-CBC with RSA-OAEP (mgf1p, SHA-1)."""

    certificate_pem: str
    content: str = "aes256-cbc"
    transport: str = "rsa-oaep-mgf1p"
    digest: str = "sha1"

    def __post_init__(self) -> None:
        if self.content not in CONTENT_ALGORITHMS:
            raise InvalidInput(f"unknown content encryption; choose one of {', '.join(CONTENT_ALGORITHMS)}")
        if self.transport not in KEY_TRANSPORTS:
            raise InvalidInput(f"unknown key transport; choose one of {', '.join(KEY_TRANSPORTS)}")
        if self.digest not in DIGESTS:
            raise InvalidInput(f"unknown OAEP digest; choose one of {', '.join(DIGESTS)}")


def _public_key(certificate_pem: str) -> tuple[rsa.RSAPublicKey, x509.Certificate]:
    text = certificate_pem.strip()
    if "-----BEGIN" not in text:
        text = f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----"
    try:
        cert = x509.load_pem_x509_certificate(text.encode("ascii"))
    except ValueError:
        raise InvalidInput("the SP encryption certificate is not a PEM certificate") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidInput("the SP encryption certificate must hold an RSA key")
    return key, cert


def _encrypt_content(plaintext: bytes, key: bytes, gcm: bool) -> bytes:
    if gcm:
        iv = os.urandom(12)
        return iv + AESGCM(key).encrypt(iv, plaintext, None)
    iv = os.urandom(16)
    pad = 16 - len(plaintext) % 16
    padded = plaintext + os.urandom(pad - 1) + bytes([pad])  # XML Encryption padding: only the last byte counts
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def _encrypt_key(session_key: bytes, public_key: rsa.RSAPublicKey, encryption: Encryption) -> bytes:
    if encryption.transport == "rsa-1_5":
        return public_key.encrypt(session_key, padding.PKCS1v15())
    digest = DIGESTS[encryption.digest][1]()
    mgf_hash = hashes.SHA1() if encryption.transport == "rsa-oaep-mgf1p" else DIGESTS[encryption.digest][1]()
    return public_key.encrypt(session_key, padding.OAEP(mgf=padding.MGF1(mgf_hash), algorithm=digest, label=None))


def encrypt_assertion(assertion: etree._Element, encryption: Encryption) -> etree._Element:
    """A saml:EncryptedAssertion holding `assertion` (already signed, if it is to be) encrypted to the SP."""
    public_key, cert = _public_key(encryption.certificate_pem)
    content_uri, key_bytes, gcm = CONTENT_ALGORITHMS[encryption.content]
    session_key = os.urandom(key_bytes)
    plaintext = etree.tostring(assertion)

    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion", nsmap={None: SAML_NS})
    data = etree.SubElement(wrapper, f"{{{XENC_NS}}}EncryptedData", {"Type": f"{XENC_NS}Element"},
                            nsmap={"xenc": XENC_NS})
    etree.SubElement(data, f"{{{XENC_NS}}}EncryptionMethod", {"Algorithm": content_uri})
    key_info = etree.SubElement(data, f"{{{DS_NS}}}KeyInfo", nsmap={None: DS_NS})
    encrypted_key = etree.SubElement(key_info, f"{{{XENC_NS}}}EncryptedKey", nsmap={"e": XENC_NS})
    method = etree.SubElement(encrypted_key, f"{{{XENC_NS}}}EncryptionMethod",
                              {"Algorithm": KEY_TRANSPORTS[encryption.transport]})
    if encryption.transport != "rsa-1_5":
        etree.SubElement(method, f"{{{DS_NS}}}DigestMethod", {"Algorithm": DIGESTS[encryption.digest][0]})
    if encryption.transport == "rsa-oaep":
        etree.SubElement(method, f"{{{XENC11_NS}}}MGF", {"Algorithm": f"{XENC11_NS}mgf1{encryption.digest}"},
                         nsmap={"xenc11": XENC11_NS})
    # Which certificate the key was encrypted for, as a WS-Security token reference to its issuer and serial.
    reference = etree.SubElement(etree.SubElement(encrypted_key, f"{{{DS_NS}}}KeyInfo"),
                                 f"{{{WSSE_NS}}}SecurityTokenReference", nsmap={"o": WSSE_NS})
    serial = etree.SubElement(etree.SubElement(reference, f"{{{DS_NS}}}X509Data"), f"{{{DS_NS}}}X509IssuerSerial")
    etree.SubElement(serial, f"{{{DS_NS}}}X509IssuerName").text = cert.issuer.rfc4514_string()
    etree.SubElement(serial, f"{{{DS_NS}}}X509SerialNumber").text = str(cert.serial_number)
    key_value = base64.b64encode(_encrypt_key(session_key, public_key, encryption)).decode("ascii")
    etree.SubElement(etree.SubElement(encrypted_key, f"{{{XENC_NS}}}CipherData"),
                     f"{{{XENC_NS}}}CipherValue").text = key_value
    content_value = base64.b64encode(_encrypt_content(plaintext, session_key, gcm)).decode("ascii")
    etree.SubElement(etree.SubElement(data, f"{{{XENC_NS}}}CipherData"), f"{{{XENC_NS}}}CipherValue").text = content_value
    return wrapper


def sp_encryption_certificate(sp_metadata_xml: str | bytes) -> str:
    """The first encryption certificate (base64 body) in an SP's metadata, as an IdP picks it up."""
    document = sp_metadata_xml.encode("utf-8") if isinstance(sp_metadata_xml, str) else sp_metadata_xml
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise InvalidInput("DTDs are not allowed")
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(document, parser=parser)
    except etree.XMLSyntaxError:
        raise InvalidInput("SP metadata is not well-formed XML") from None
    for descriptor in root.iter(f"{{{MD_NS}}}KeyDescriptor"):
        if descriptor.get("use") in (None, "encryption"):
            body = descriptor.findtext(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")
            if body and body.strip():
                return "".join(body.split())
    raise InvalidInput("SP metadata names no encryption certificate")
