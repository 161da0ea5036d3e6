"""Enveloped XML signatures made the way Entra ID makes them."""
from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from testidp.keys import KeyPair

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


@lru_cache(maxsize=8)
def _private_key(key_pem: str) -> rsa.RSAPrivateKey:
    # Loading an RSA key validates it, which costs more than the signature itself;
    # benchmarks sign thousands of responses with the same key.
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # the test IdP signs RSA-SHA256 only
        raise TypeError(f"The test IdP's key must be RSA, not {type(key).__name__}.")
    return key


def sign_enveloped(root: etree._Element, target: etree._Element, keypair: KeyPair) -> etree._Element:
    """Sign `target` (a descendant-or-self of `root` carrying an ID) at its schema position.

    The ds:Signature goes right after the target's saml:Issuer, where the SAML
    schema wants it, with RSA-SHA256, SHA-256 digest, exclusive c14n and the
    signing certificate in KeyInfo. signxml works on a copy, so the signed
    document's root is returned and `root`/`target` must not be used afterwards.
    """
    target_id = target.get("ID")
    if not target_id:
        raise ValueError("element to sign has no ID attribute")
    placeholder = etree.Element(f"{{{DS_NS}}}Signature", {"Id": "placeholder"}, nsmap={"ds": DS_NS})
    first = target[0] if len(target) else None
    target.insert(1 if first is not None and first.tag == f"{{{SAML_NS}}}Issuer" else 0, placeholder)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return signer.sign(
        root,
        key=_private_key(keypair.key_pem),
        key_info=_key_info(keypair),
        reference_uri=f"#{target_id}",
        id_attribute="ID",
    )


def _key_info(keypair: KeyPair) -> etree._Element:
    # Built here rather than by signxml so the certificate sits on one line, as in Entra's output.
    key_info = etree.Element(f"{{{DS_NS}}}KeyInfo", nsmap={"ds": DS_NS})
    x509_data = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
    etree.SubElement(x509_data, f"{{{DS_NS}}}X509Certificate").text = keypair.cert_base64
    return key_info
