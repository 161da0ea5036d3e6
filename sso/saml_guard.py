"""Strict, in-process verification of SAML 2.0 Responses (HTTP-POST binding).

Portico's ACS runs `verify_saml_response` before pysaml2/djangosaml2 see the
response. pysaml2 stays as a second line of defence and does the protocol
bookkeeping, but it does not check Recipient unless given `conv_info`, keeps no
replay record, accepts a DOCTYPE without entities, accepts the
exclusive-c14n#WithComments algorithms and SHA-1, and runs xmlsec1 three times
per signature. This module is pure (no Django, no I/O) and fails closed: every
refusal is a `SamlRejected` with a `RejectCode` and a sentence a customer's IdP
admin can act on.

The identity Portico uses is read only from the element that signxml returns as
signed (`VerifyResult.signed_xml`), after checking that those signed bytes are
exactly the one Assertion (or the Response holding it) in the document.

An EncryptedAssertion (sso.xmlenc) keeps that property: a Response signature is
verified over the document as posted (it covers the ciphertext), and the
ciphertext decrypted is the one inside the element signxml returned as signed;
an Assertion signature is verified over the decrypted plaintext as its own
document. Either way the decrypted assertion then passes the same checks as a
plain one, and it must be signed by one of the two routes.
"""
from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone

import cryptography.exceptions
from cryptography import x509
from lxml import etree
from signxml import (
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    VerifyResult,
    XMLVerifier,
)
from signxml.exceptions import InvalidDigest, SignXMLException

from sso.metadata import certificate_fingerprint_sha256
from sso.types import RejectCode, ResponseSeen, VerifiedResponse
from sso.xmlenc import DECRYPTION_FAILED, DecryptionRefused, encrypted_assertion_decrypt
from sso.xmlsafe import dtd_declaration, hardened_parser, has_dtd
from sso.xmltypes import xs_datetime

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_CLOCK_SKEW = timedelta(seconds=120)
DEFAULT_MAX_LIFETIME = timedelta(hours=4)

_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_DIGEST_METHODS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
_SIGNATURE_METHOD_URIS = frozenset(m.value for m in _SIGNATURE_METHODS)
_DIGEST_METHOD_URIS = frozenset(m.value for m in _DIGEST_METHODS)

# ds elements that may only appear once per accepted Signature; one more anywhere
# in the document is a smuggled copy (ruby-saml CVE-2024-45409 read the first
# DigestValue in the document, xml-crypto CVE-2025-29775 a second SignedInfo).
_SIGNATURE_PARTS = (
    "SignedInfo",
    "SignatureValue",
    "CanonicalizationMethod",
    "SignatureMethod",
    "Reference",
    "Transforms",
    "DigestMethod",
    "DigestValue",
)

_ID_ATTRIBUTE_NAMES = frozenset({"ID", "Id", "id"})  # signxml resolves "#x" against all three, plus xml:id


class SamlRejected(Exception):
    """A SAMLResponse Portico refuses; `detail` is safe and useful to show a customer admin."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        # What the refused document claimed (UNVERIFIED), for the attempt log; None when it
        # could not even be decoded and parsed safely.
        self.seen: ResponseSeen | None = None


# --- public API ---


def _seen(xml: bytes, root: etree._Element) -> ResponseSeen:
    issuer = root.find(f"{{{SAML_NS}}}Issuer")
    if issuer is None:
        issuer = root.find(f"{{{SAML_NS}}}Assertion/{{{SAML_NS}}}Issuer")
    issuer_text = issuer.xpath("string()").strip() if issuer is not None else None
    return ResponseSeen(issuer=issuer_text or None, in_response_to=root.get("InResponseTo"),
                        xml=xml.decode("utf-8"))


def verify_saml_response(
    *,
    saml_response: str | bytes,
    idp_entity_id: str,
    idp_certificates: Sequence[str],
    sp_entity_id: str,
    acs_url: str,
    now: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
    decryption_keys: Sequence[bytes] | Callable[[], Sequence[bytes]] = (),
    require_encryption: bool = False,
) -> VerifiedResponse:
    """Verify the base64 SAMLResponse form value for one tenant, or raise SamlRejected.

    `idp_certificates` are the PEM certificates configured for this tenant's IdP
    (several during a rotation); KeyInfo in the response is never trusted.
    `decryption_keys` are the tenant's live SP private keys (PEM), tried in turn on an
    EncryptedAssertion (or a callable giving them, called only for an encrypted response);
    `require_encryption` refuses a plain Assertion.
    `max_bytes` caps the decoded XML; `max_lifetime` caps how far ahead an assertion may say it
    stays valid (a year-9999 NotOnOrAfter is implausible, and would pin a replay record). Raises ValueError for a configuration
    error (no or unreadable certificates, naive `now`), never for bad input.
    """
    certificates = _load_certificates(idp_certificates)
    now = _aware(now or datetime.now(timezone.utc))

    xml, root = _load(saml_response, max_bytes=max_bytes)
    try:
        return _verify_tree(xml, root, idp_entity_id=idp_entity_id, certificates=certificates,
                            sp_entity_id=sp_entity_id, acs_url=acs_url, now=now, clock_skew=clock_skew,
                            max_lifetime=max_lifetime, decryption_keys=decryption_keys,
                            require_encryption=require_encryption)
    except SamlRejected as refusal:
        refusal.seen = _seen(xml, root)
        raise


def _verify_tree(
    xml: bytes, root: etree._Element, *, idp_entity_id: str, certificates: list[x509.Certificate],
    sp_entity_id: str, acs_url: str, now: datetime, clock_skew: timedelta, max_lifetime: timedelta,
    decryption_keys: Sequence[bytes] | Callable[[], Sequence[bytes]] = (), require_encryption: bool = False,
) -> VerifiedResponse:
    _check_root(root)
    _check_status(root)
    if any(True for _ in root.iter(f"{{{SAML_NS}}}EncryptedAssertion")):
        return _verify_encrypted(xml, root, idp_entity_id=idp_entity_id, certificates=certificates,
                                 sp_entity_id=sp_entity_id, acs_url=acs_url, now=now, clock_skew=clock_skew,
                                 max_lifetime=max_lifetime, decryption_keys=decryption_keys)
    if require_encryption:
        raise SamlRejected(
            RejectCode.encryption_required,
            "The assertion is not encrypted, and this organisation requires encrypted assertions. Turn on token "
            "encryption in the IdP with Portico's certificate (Entra: your Portico application > Token encryption), or turn "
            "the requirement off on the SSO settings page.",
        )
    _check_not_encrypted(root)
    assertion = _the_assertion(root)
    _check_unique_ids(root)
    signatures = _signatures(root, response=root, assertion=assertion)
    if not signatures:
        raise _unsigned()

    parents = {"response": root, "assertion": assertion}
    signed = {
        part: _verify_signature(
            xml, part=part, parent=parents[part], signature=sig, certificates=certificates, now=now
        )
        for part, sig in signatures.items()
    }
    if "assertion" in signed:
        signed_assertion = signed["assertion"]
    else:
        found = signed["response"].findall(f"{{{SAML_NS}}}Assertion")
        if len(found) != 1:  # unreachable after _bind_signed_element; kept as a fail-closed guard
            raise _wrapping("The signed Response does not contain exactly one Assertion.")
        signed_assertion = found[0]
    return _verified(xml, root, assertion, signed_assertion, signed_parts=frozenset(signed), encrypted=False,
                     idp_entity_id=idp_entity_id, sp_entity_id=sp_entity_id, acs_url=acs_url, now=now,
                     clock_skew=clock_skew, max_lifetime=max_lifetime)


def _unsigned() -> SamlRejected:
    return SamlRejected(
        RejectCode.unsigned,
        "Neither the SAML response nor its assertion is signed. Turn on assertion signing in the IdP "
        "(Entra: 'Sign SAML assertion', the default).",
    )


def _verify_encrypted(
    xml: bytes, root: etree._Element, *, idp_entity_id: str, certificates: list[x509.Certificate],
    sp_entity_id: str, acs_url: str, now: datetime, clock_skew: timedelta, max_lifetime: timedelta,
    decryption_keys: Sequence[bytes] | Callable[[], Sequence[bytes]],
) -> VerifiedResponse:
    """An EncryptedAssertion: the outer signature first (before any decryption, so altered ciphertext
    is refused without being decrypted), then the plaintext, verified like a plain assertion."""
    encrypted = _the_encrypted_assertion(root)
    _check_unique_ids(root)
    outer = _signatures(root, response=root, assertion=None, skip=encrypted)
    signed_response = None
    if outer:
        signed_response = _verify_signature(xml, part="response", parent=root, signature=outer["response"],
                                            certificates=certificates, now=now, encrypted=True)
        # Decrypt the ciphertext signxml verified, not a look-alike elsewhere in the document.
        [encrypted] = signed_response.findall(f"{{{SAML_NS}}}EncryptedAssertion")
    keys = decryption_keys() if callable(decryption_keys) else decryption_keys
    if not keys:
        raise SamlRejected(
            RejectCode.decryption_failed,
            "The assertion is encrypted, but Portico has no readable decryption key for this organisation "
            "(support staff: check PORTICO_KEY_ENCRYPTION_KEYS).",
        )
    try:
        plaintext = encrypted_assertion_decrypt(encrypted, private_keys=keys)
    except DecryptionRefused as refused:
        raise SamlRejected(refused.code, refused.detail) from None
    assertion = _decrypted_assertion(plaintext)
    _check_unique_ids_across(root, assertion)
    inner = _signatures(assertion, response=None, assertion=assertion)
    signed: dict[str, etree._Element] = {}
    if signed_response is not None:
        signed["response"] = signed_response
    if inner:
        signed["assertion"] = _verify_signature(plaintext, part="assertion", parent=assertion,
                                                signature=inner["assertion"], certificates=certificates, now=now,
                                                location="./")
    if not signed:
        raise _unsigned()
    # Signed inside: what signxml returned. Signed only outside: the plaintext of the signed ciphertext.
    signed_assertion = signed.get("assertion", assertion)
    return _verified(xml, root, assertion, signed_assertion, signed_parts=frozenset(signed), encrypted=True,
                     idp_entity_id=idp_entity_id, sp_entity_id=sp_entity_id, acs_url=acs_url, now=now,
                     clock_skew=clock_skew, max_lifetime=max_lifetime)


def _the_encrypted_assertion(root: etree._Element) -> etree._Element:
    if any(el is not root for el in root.iter(f"{{{SAMLP_NS}}}Response")):
        raise _wrapping("The response contains a second Response element inside it.")
    found = list(root.iter(f"{{{SAML_NS}}}EncryptedAssertion"))
    plain = sum(1 for _ in root.iter(f"{{{SAML_NS}}}Assertion"))
    if len(found) != 1 or plain:
        raise SamlRejected(
            RejectCode.assertion_count,
            f"The response contains {len(found)} encrypted and {plain} plain assertions; Portico accepts "
            "exactly one assertion.",
        )
    if found[0].getparent() is not root:
        raise _wrapping("The encrypted assertion is not a direct child of the Response.")
    return found[0]


def _decrypted_assertion(plaintext: bytes) -> etree._Element:
    """The decrypted plaintext parsed as safely as the posted document; one Assertion, nothing else."""
    if b"\x00" in plaintext:  # UTF-16 would hide a DOCTYPE from the scan below; SAML is UTF-8
        raise SamlRejected(RejectCode.decryption_failed, DECRYPTION_FAILED)
    if dtd_declaration(plaintext):
        raise SamlRejected(
            RejectCode.doctype,
            "The decrypted assertion contains a DOCTYPE or ENTITY declaration, which no genuine IdP sends; "
            "Portico refuses it before parsing.",
        )
    try:
        plaintext.decode("utf-8")
        assertion = _parse(plaintext)
    except (UnicodeDecodeError, SamlRejected) as error:
        if isinstance(error, SamlRejected) and error.code is RejectCode.doctype:
            raise
        # Garbage plaintext is a decryption failure: one answer for every way ciphertext can be altered.
        raise SamlRejected(RejectCode.decryption_failed, DECRYPTION_FAILED) from None
    if assertion.tag != f"{{{SAML_NS}}}Assertion":
        raise SamlRejected(RejectCode.decryption_failed, DECRYPTION_FAILED)
    if any(el is not assertion for el in assertion.iter(f"{{{SAML_NS}}}Assertion")):
        raise SamlRejected(RejectCode.assertion_count, "The decrypted assertion contains another assertion; "
                                                       "Portico accepts exactly one.")
    if any(True for _ in assertion.iter(f"{{{SAMLP_NS}}}Response")):
        raise _wrapping("The decrypted assertion contains a Response element.")
    _check_not_encrypted(assertion)
    if not assertion.get("ID"):
        raise SamlRejected(RejectCode.malformed, "The assertion has no ID.")
    if assertion.get("Version") != "2.0":
        raise SamlRejected(RejectCode.malformed, "The assertion is not SAML version 2.0.")
    return assertion


def _check_unique_ids_across(root: etree._Element, assertion: etree._Element) -> None:
    # The decrypted assertion is verified as its own document, but an ID it shares with the
    # Response would still be a forged reference target: refuse as in one document.
    outer = {value for el in root.iter(tag=etree.Element) for name, value in el.attrib.items()
             if etree.QName(name).localname in _ID_ATTRIBUTE_NAMES}
    _check_unique_ids(assertion)
    for el in assertion.iter(tag=etree.Element):
        for name, value in el.attrib.items():
            if etree.QName(name).localname in _ID_ATTRIBUTE_NAMES and value in outer:
                raise SamlRejected(
                    RejectCode.duplicate_id,
                    f"The ID {value!r} appears more than once in the response, a sign of tampering.",
                )


def _verified(
    xml: bytes, root: etree._Element, assertion: etree._Element, signed_assertion: etree._Element, *,
    signed_parts: frozenset[str], encrypted: bool, idp_entity_id: str, sp_entity_id: str, acs_url: str,
    now: datetime, clock_skew: timedelta, max_lifetime: timedelta,
) -> VerifiedResponse:
    """The protocol checks shared by plain and decrypted assertions, on the signed element."""
    _check_issuers(root, signed_assertion, idp_entity_id)
    _check_destination(root, acs_url, response_signed="response" in signed_parts)
    confirmation_expiry, in_response_to = _check_subject_confirmation(
        root, signed_assertion, acs_url=acs_url, now=now, skew=clock_skew
    )
    conditions_expiry = _check_conditions(signed_assertion, sp_entity_id=sp_entity_id, now=now, skew=clock_skew)
    # Comments do not survive canonicalisation, so look for them in the parsed
    # document; the bytes are the same ones the signature covers (_bind_signed_element).
    _check_pure_text(assertion)
    name_id, name_id_format = _name_id(signed_assertion)

    expiries = [t for t in (confirmation_expiry, conditions_expiry) if t is not None]
    if min(expiries) - now > max_lifetime:
        raise SamlRejected(
            RejectCode.lifetime_too_long,
            f"The assertion says it stays valid until {min(expiries):%Y-%m-%d %H:%M} UTC, longer than the "
            f"{max_lifetime} Portico accepts. Genuine IdPs issue assertions for minutes (Entra: about an hour).",
        )
    return VerifiedResponse(
        response_id=root.get("ID", ""),
        assertion_id=signed_assertion.get("ID", ""),
        issuer=idp_entity_id,
        in_response_to=in_response_to,
        name_id=name_id,
        name_id_format=name_id_format,
        attributes=_attributes(signed_assertion),
        session_index=_session_index(signed_assertion),
        not_on_or_after=min(expiries),
        signed_parts=signed_parts,
        xml=xml.decode("utf-8"),
        encrypted=encrypted,
    )


# --- decoding and parsing (the one code path for untrusted bytes) ---


def _load(saml_response: str | bytes, *, max_bytes: int) -> tuple[bytes, etree._Element]:
    xml = _decode(saml_response, max_bytes=max_bytes)
    return xml, _parse(xml)


def _decode(saml_response: str | bytes, *, max_bytes: int) -> bytes:
    # Base64 is 4/3 of the payload, and some IdPs wrap lines: cap the raw text
    # loosely before touching it, then exactly once the whitespace is gone.
    if len(saml_response) > 2 * max_bytes:
        raise _too_large(max_bytes)
    if isinstance(saml_response, str):
        try:
            saml_response = saml_response.encode("ascii")
        except UnicodeEncodeError:
            raise SamlRejected(RejectCode.malformed, "The SAMLResponse field is not base64 text.") from None
    compact = b"".join(saml_response.split())
    if len(compact) > 4 * -(-max_bytes // 3):
        raise _too_large(max_bytes)
    if not compact:
        raise SamlRejected(RejectCode.malformed, "The SAMLResponse field is empty.")
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SamlRejected(RejectCode.malformed, "The SAMLResponse field is not valid base64.") from None
    if len(xml) > max_bytes:
        raise _too_large(max_bytes)
    xml_text_check(xml, what="SAML response")
    return xml


def xml_text_check(xml: bytes, *, what: str) -> None:
    """UTF-8 and no DOCTYPE/ENTITY, before any parser sees it (responses here, logout messages in
    sso.slo_guard). The DOCTYPE scan only works on an ASCII-compatible encoding: a UTF-16 document
    would hide "<!DOCTYPE" behind NUL bytes, and SAML messages are UTF-8."""
    if b"\x00" in xml:
        raise SamlRejected(RejectCode.malformed, f"The {what} is not UTF-8 XML.")
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise SamlRejected(RejectCode.malformed, f"The {what} is not UTF-8 XML.") from None
    if dtd_declaration(xml):
        raise SamlRejected(
            RejectCode.doctype,
            f"The {what} contains a DOCTYPE or ENTITY declaration, which no genuine IdP sends; "
            "Portico refuses it before parsing.",
        )


def _parser() -> etree.XMLParser:
    # Comments and PIs are kept so that injected ones can be seen and refused.
    return hardened_parser(keep_comments=True)


def _parse(xml: bytes) -> etree._Element:
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError:
        raise SamlRejected(RejectCode.malformed, "The SAML response is not well-formed XML.") from None
    if has_dtd(root):
        raise SamlRejected(RejectCode.doctype, "The SAML response contains a DOCTYPE, which Portico refuses.")
    if any(True for _ in root.iter(etree.Entity)):
        raise SamlRejected(RejectCode.doctype, "The SAML response contains entity references, which Portico refuses.")
    return root


def _too_large(max_bytes: int) -> SamlRejected:
    return SamlRejected(
        RejectCode.too_large,
        f"The SAML response is larger than {max_bytes // 1024} KiB. Remove large claims (such as group lists) "
        "from the IdP's claim configuration.",
    )


# --- document shape ---


def _check_root(root: etree._Element) -> None:
    if root.tag != f"{{{SAMLP_NS}}}Response":
        raise SamlRejected(
            RejectCode.malformed,
            f"Expected a SAML 2.0 Response but received <{etree.QName(root).localname}>.",
        )
    if root.get("Version") != "2.0":
        raise SamlRejected(RejectCode.malformed, "The SAML response is not SAML version 2.0.")
    if not root.get("ID"):
        raise SamlRejected(RejectCode.malformed, "The SAML response has no ID.")


def _check_status(root: etree._Element) -> None:
    status = _one(root, f"{{{SAMLP_NS}}}Status", "Status")
    code = _one(status, f"{{{SAMLP_NS}}}StatusCode", "StatusCode") if status is not None else None
    value = code.get("Value") if code is not None else None
    if value == STATUS_SUCCESS:
        return
    codes = [value or "(none)"]
    sub_code = code.find(f"{{{SAMLP_NS}}}StatusCode") if code is not None else None
    if sub_code is not None and sub_code.get("Value"):
        codes.append(sub_code.get("Value", ""))
    message = status.findtext(f"{{{SAMLP_NS}}}StatusMessage") if status is not None else None
    # Checked before any signature: whoever posted this chose every word of it. Portico's own
    # sentence says so, and the IdP's text is quoted as theirs, short and printable only.
    text = "".join(ch for ch in (message or "") if ch.isprintable()).strip()[:200]
    said = f' The IdP said (unverified): "{text}".' if text else ""
    status_codes = "".join(ch for ch in " / ".join(codes) if ch.isprintable())[:300]
    raise SamlRejected(
        RejectCode.status,
        f"The response (not verified: a failed sign-in carries no signature Portico checks) reports status "
        f"{status_codes} instead of Success.{said} Check the IdP's sign-in logs for this user.",
    )


def _check_not_encrypted(root: etree._Element) -> None:
    # Portico decrypts a whole EncryptedAssertion (Entra's token encryption), not encrypted parts of one.
    for tag in ("EncryptedID", "EncryptedAttribute"):
        if root.find(f".//{{{SAML_NS}}}{tag}") is not None:
            raise SamlRejected(
                RejectCode.encrypted_assertion,
                f"The response contains an {tag}, which Portico does not decrypt. Encrypt the whole assertion "
                "instead (Entra's token encryption does), or turn encryption of that part off in the IdP.",
            )


def _the_assertion(root: etree._Element) -> etree._Element:
    # XSW1/XSW2 wrap a copy of the signed Response inside the evil one.
    if any(el is not root for el in root.iter(f"{{{SAMLP_NS}}}Response")):
        raise _wrapping("The response contains a second Response element inside it.")
    assertions = list(root.iter(f"{{{SAML_NS}}}Assertion"))
    if len(assertions) != 1:
        raise SamlRejected(
            RejectCode.assertion_count,
            f"The response contains {len(assertions)} assertions; Portico accepts exactly one.",
        )
    assertion = assertions[0]
    if assertion.getparent() is not root:
        raise _wrapping("The assertion is not a direct child of the Response.")
    if not assertion.get("ID"):
        raise SamlRejected(RejectCode.malformed, "The assertion has no ID.")
    if assertion.get("Version") != "2.0":
        raise SamlRejected(RejectCode.malformed, "The assertion is not SAML version 2.0.")
    return assertion


def _check_unique_ids(root: etree._Element) -> None:
    # Reference URIs are resolved by ID (signxml tries Id, ID, id and xml:id), so
    # any repeated value could let the digest cover one element and us read another.
    seen: Counter[str] = Counter()
    for el in root.iter(tag=etree.Element):
        for name, value in el.attrib.items():
            if etree.QName(name).localname in _ID_ATTRIBUTE_NAMES:
                seen[value] += 1
    repeated = sorted(value for value, count in seen.items() if count > 1)
    if repeated:
        raise SamlRejected(
            RejectCode.duplicate_id,
            f"The ID {repeated[0]!r} appears more than once in the response, a sign of tampering.",
        )


# --- signature structure ---


def _signatures(
    root: etree._Element, *, response: etree._Element | None, assertion: etree._Element | None,
    skip: etree._Element | None = None,
) -> dict[str, etree._Element]:
    """Each allowed ds:Signature keyed by the part it signs; refuses any other shape.

    `root` is the document; a signature may sit directly on `response` or on `assertion` (None: no
    signature allowed there). `skip` is an EncryptedAssertion, whose contents sso.xmlenc checks (its
    OAEP ds:DigestMethod is no signature part).
    """
    found: dict[str, etree._Element] = {}
    for sig in _iter_outside(root, _ds("Signature"), skip):
        parent = sig.getparent()
        part = "response" if response is not None and parent is response else (
            "assertion" if assertion is not None and parent is assertion else None)
        if part is None:
            where = etree.QName(parent).localname if parent is not None else "?"
            raise _wrapping(
                f"A signature sits inside <{where}>; Portico accepts signatures only directly on the "
                "Response or the Assertion."
            )
        if part in found:
            raise _wrapping(f"The {part} carries more than one signature.")
        _check_signature_shape(sig, parent_id=parent.get("ID", ""), part=part)
        found[part] = sig
    for local in _SIGNATURE_PARTS:
        count = sum(1 for _ in _iter_outside(root, _ds(local), skip))
        if count != len(found):
            raise _wrapping(f"The response contains a ds:{local} outside the signature it belongs to.")
    return found


def _iter_outside(root: etree._Element, tag: str, skip: etree._Element | None) -> Iterator[etree._Element]:
    for element in root.iter(tag):
        if skip is None or not any(ancestor is skip for ancestor in element.iterancestors()):
            yield element


def _check_signature_shape(sig: etree._Element, *, parent_id: str, part: str) -> None:
    children = _ds_children(sig, f"the {part} signature")
    if "Object" in children:
        # Object carries unsigned data and is not used by SAML (SAML core §5.4.2).
        raise _wrapping(f"The {part} signature contains a ds:Object.")
    if children.count("SignedInfo") != 1:
        raise _wrapping(f"The {part} signature does not contain exactly one SignedInfo.")
    if "SignatureValue" not in children:
        raise SamlRejected(RejectCode.signature_invalid, f"The {part} signature has no SignatureValue.")
    if children not in (["SignedInfo", "SignatureValue"], ["SignedInfo", "SignatureValue", "KeyInfo"]):
        raise _wrapping(f"The {part} signature has an unexpected structure ({', '.join(children)}).")

    signed_info = sig.find(_ds("SignedInfo"))
    info_children = _ds_children(signed_info, f"the {part} SignedInfo")
    if info_children.count("Reference") != 1:
        raise _wrapping(f"The {part} signature must hold exactly one Reference.")
    if info_children != ["CanonicalizationMethod", "SignatureMethod", "Reference"]:
        raise _wrapping(f"The {part} SignedInfo has an unexpected structure ({', '.join(info_children)}).")
    c14n = signed_info.find(_ds("CanonicalizationMethod"))
    _check_c14n(c14n, f"{part} SignedInfo canonicalisation")
    signature_method = signed_info.find(_ds("SignatureMethod"))
    if signature_method.get("Algorithm") not in _SIGNATURE_METHOD_URIS or len(signature_method):
        raise _unsupported(f"signature algorithm {signature_method.get('Algorithm')}")

    reference = signed_info.find(_ds("Reference"))
    if reference.get("URI") != f"#{parent_id}":
        raise _wrapping(
            f"The {part} signature references {reference.get('URI')!r} instead of the element it is on "
            f"(#{parent_id})."
        )
    if _ds_children(reference, f"the {part} Reference") != ["Transforms", "DigestMethod", "DigestValue"]:
        raise _wrapping(f"The {part} Reference has an unexpected structure.")
    transforms = _ds_children(reference.find(_ds("Transforms")), f"the {part} Transforms")
    if set(transforms) != {"Transform"}:
        raise _wrapping(f"The {part} Transforms element has an unexpected structure.")
    algorithms = [t.get("Algorithm") for t in reference.find(_ds("Transforms"))]
    for transform in reference.find(_ds("Transforms")):
        if transform.get("Algorithm") == ENVELOPED:
            if len(transform):
                raise _unsupported("enveloped-signature transform with parameters")
        else:
            _check_c14n(transform, f"{part} reference transform")
    if sorted(algorithms) != sorted([ENVELOPED, EXC_C14N]):
        raise _unsupported(f"transform list {algorithms} (expected enveloped-signature and exclusive c14n)")
    digest_method = reference.find(_ds("DigestMethod"))
    if digest_method.get("Algorithm") not in _DIGEST_METHOD_URIS or len(digest_method):
        raise _unsupported(f"digest algorithm {digest_method.get('Algorithm')}")


def _check_c14n(element: etree._Element, what: str) -> None:
    algorithm = element.get("Algorithm")
    if algorithm == EXC_C14N_WITH_COMMENTS:
        # With comments, a comment spliced into the NameID changes nothing the
        # signature covers yet truncates what naive readers see (CVE-2017-11427).
        raise _unsupported(f"{what} 'exclusive c14n with comments'")
    if algorithm != EXC_C14N:
        raise _unsupported(f"{what} {algorithm}")
    for child in element:
        if child.tag != f"{{{EXC_C14N}}}InclusiveNamespaces" or len(child):
            raise _unsupported(f"{what} with unexpected parameters")


def _ds_children(element: etree._Element, what: str) -> list[str]:
    names = []
    for child in element:
        if not isinstance(child.tag, str):
            raise _wrapping(f"{what.capitalize()} contains a comment or processing instruction.")
        qname = etree.QName(child)
        if qname.namespace != DS_NS:
            if element.tag == _ds("Transforms") or element.tag == _ds("Transform"):
                raise _unsupported(f"<{qname.localname}> inside {what}")
            raise _wrapping(f"{what.capitalize()} contains an unexpected <{qname.localname}> element.")
        names.append(qname.localname)
    return names


# --- cryptographic verification ---


def _verify_signature(
    xml: bytes,
    *,
    part: str,
    parent: etree._Element,
    signature: etree._Element,
    certificates: Sequence[x509.Certificate],
    now: datetime,
    location: str | None = None,
    encrypted: bool = False,
) -> etree._Element:
    """The signed element as signxml returns it, verified with a configured certificate only.

    `location` defaults to the Assertion for part "assertion" and to the document's root otherwise (the
    Response, or a logout message: sso.slo_guard); a decrypted assertion is its own document ("./").
    `encrypted`: the signed Response holds an EncryptedAssertion.
    """
    if location is None:
        location = f"./{{{SAML_NS}}}Assertion/" if part == "assertion" else "./"
    content_changed = False
    for certificate in certificates:
        try:
            result = _signxml_verify(xml, location=location, certificate=certificate, now=now)
        except InvalidDigest:
            # The SignedInfo signature checked out with this certificate, so the
            # key is right and the signed content was altered.
            content_changed = True
            continue
        except _VERIFY_ERRORS:
            continue
        return _bind_signed_element(result, parent=parent, part=part, encrypted=encrypted)

    if content_changed:
        raise SamlRejected(
            RejectCode.signature_invalid,
            f"The {part} was changed after the IdP signed it (digest mismatch).",
        )
    raise _diagnose_untrusted(xml, location=location, signature=signature, part=part, now=now)


_VERIFY_ERRORS = (
    SignXMLException,
    cryptography.exceptions.InvalidSignature,
    etree.LxmlError,
    ValueError,
    TypeError,
    KeyError,
)


def _signxml_verify(
    xml: bytes, *, location: str, certificate: x509.Certificate | None, now: datetime
) -> VerifyResult:
    config = SignatureConfiguration(
        location=location,
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGEST_METHODS,
        # KeyInfo is never consulted when a certificate is given; do not let a
        # KeyValue in it veto (or influence) the configured certificate.
        ignore_ambiguous_key_info=True,
        # Trust comes from pinning the certificate per tenant, not from its
        # validity dates (as Shibboleth treats metadata keys); an IdP that keeps
        # signing with a lapsed certificate must not lock every user out.
        verification_time=_inside_validity(certificate, now) if certificate is not None else now,
        require_x509=certificate is not None,
    )
    result = XMLVerifier().verify(
        xml,
        x509_cert=certificate,
        parser=_parser(),
        expect_config=config,
        validate_schema=True,
    )
    if not isinstance(result, VerifyResult):  # expect_references=1 yields one result, never a list
        raise SignXMLException("expected a single verification result")
    return result


def _bind_signed_element(
    result: VerifyResult, *, parent: etree._Element, part: str, encrypted: bool = False
) -> etree._Element:
    """Refuse unless what signxml verified is byte for byte the element we found."""
    signed_xml, signed_data = result.signed_xml, result.signed_data
    if signed_xml is None or signed_xml.tag != parent.tag or signed_xml.get("ID") != parent.get("ID"):
        raise _wrapping(f"The verified signature does not cover the {part} Portico would read.")
    if signed_data != _canonical_without_signature(parent):
        raise _wrapping(f"The verified signature covers different content from the {part} Portico would read.")
    held = f"{{{SAML_NS}}}EncryptedAssertion" if encrypted else f"{{{SAML_NS}}}Assertion"
    if part == "response" and len(signed_xml.findall(held)) != 1:
        raise _wrapping("The signed Response does not contain exactly one Assertion.")
    return signed_xml


def _canonical_without_signature(element: etree._Element) -> bytes:
    """Exclusive c14n of `element` minus its enveloped ds:Signature, as the Reference digests it."""
    copy = etree.fromstring(etree.tostring(element), parser=_parser())
    signature = copy.find(_ds("Signature"))
    transforms = signature.find(f"{_ds('SignedInfo')}/{_ds('Reference')}/{_ds('Transforms')}")
    c14n = next(t for t in transforms if t.get("Algorithm") == EXC_C14N)  # present: _check_signature_shape
    inclusive = c14n.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    prefixes = None
    if inclusive is not None and inclusive.get("PrefixList") is not None:
        prefixes = inclusive.get("PrefixList", "").split(" ")
    _remove_keeping_tail(signature)
    return etree.tostring(copy, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes)


def _remove_keeping_tail(element: etree._Element) -> None:
    # What the enveloped-signature transform does: the whitespace after the
    # Signature stays in the document, so the digest input keeps it too.
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _diagnose_untrusted(
    xml: bytes, *, location: str, signature: etree._Element, part: str, now: datetime
) -> SamlRejected:
    """Tell an untrusted signer from a broken signature. Diagnosis only: never grants trust."""
    embedded = signature.find(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    if embedded is not None and embedded.text:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join(embedded.text.split())))
        except (ValueError, binascii.Error):
            cert = None
        if cert is not None and _signed_by(xml, location=location, certificate=cert, now=now):
            return SamlRejected(
                RejectCode.certificate_mismatch,
                "The response was signed with a certificate Portico does not trust for this organisation "
                f"(SHA-256 fingerprint {certificate_fingerprint_sha256(cert)}). The IdP's signing certificate may have "
                "changed: re-import its metadata.",
            )
    elif signature.find(f"{_ds('KeyInfo')}/{_ds('KeyValue')}") is not None:
        if _signed_by(xml, location=location, certificate=None, now=now):
            return SamlRejected(
                RejectCode.certificate_mismatch,
                "The response was signed with a bare public key (KeyValue) that Portico does not trust for "
                "this organisation. Portico only accepts the signing certificate from the IdP's metadata.",
            )
    return SamlRejected(
        RejectCode.signature_invalid,
        f"The {part} signature is not valid for any signing certificate configured for this organisation.",
    )


def _signed_by(xml: bytes, *, location: str, certificate: x509.Certificate | None, now: datetime) -> bool:
    try:
        _signxml_verify(xml, location=location, certificate=certificate, now=now)
    except InvalidDigest:
        return True  # the key signed SignedInfo; what it points at was altered since
    except _VERIFY_ERRORS:
        return False
    return True


def _load_certificates(pems: Sequence[str]) -> list[x509.Certificate]:
    if isinstance(pems, (str, bytes)) or not pems:
        raise ValueError("idp_certificates must be a non-empty sequence of PEM strings")
    certificates = []
    for pem in pems:
        text = pem.strip()
        if "-----BEGIN" not in text:  # bare base64 as it appears in metadata
            text = f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----"
        certificates.append(x509.load_pem_x509_certificate(text.encode("ascii")))
    return certificates


def _inside_validity(certificate: x509.Certificate, now: datetime) -> datetime:
    return min(max(now, certificate.not_valid_before_utc), certificate.not_valid_after_utc)


# --- protocol checks on the verified content ---


def _check_issuers(root: etree._Element, assertion: etree._Element, idp_entity_id: str) -> None:
    response_issuer = _one(root, f"{{{SAML_NS}}}Issuer", "Response Issuer")
    if response_issuer is not None:
        value = _pure_text(response_issuer, "Response Issuer").strip()
        if value != idp_entity_id:
            raise _issuer_mismatch("response", value, idp_entity_id)
    assertion_issuer = _one(assertion, f"{{{SAML_NS}}}Issuer", "Assertion Issuer")
    if assertion_issuer is None:
        raise SamlRejected(RejectCode.issuer_mismatch, "The assertion has no Issuer.")
    value = _pure_text(assertion_issuer, "Assertion Issuer").strip()
    if value != idp_entity_id:
        raise _issuer_mismatch("assertion", value, idp_entity_id)


def _issuer_mismatch(part: str, got: str, expected: str) -> SamlRejected:
    return SamlRejected(
        RejectCode.issuer_mismatch,
        f"The {part} was issued by {got!r}, but this organisation's IdP is {expected!r}. "
        "Check that the IdP's entity ID (Entra: Identifier) matches the one configured in Portico.",
    )


def _check_destination(root: etree._Element, acs_url: str, *, response_signed: bool) -> None:
    destination = root.get("Destination")
    if destination is None:
        if response_signed:
            # SAML bindings §3.5.5.2: a signed HTTP-POST message MUST carry Destination.
            raise SamlRejected(
                RejectCode.destination_mismatch, "The signed response has no Destination, which SAML requires."
            )
        return
    if destination != acs_url:
        raise SamlRejected(
            RejectCode.destination_mismatch,
            f"The response was addressed to {destination!r}, not to this organisation's sign-in URL "
            f"{acs_url!r}. Update the Reply URL (Assertion Consumer Service URL) in the IdP.",
        )


def _check_subject_confirmation(
    root: etree._Element, assertion: etree._Element, *, acs_url: str, now: datetime, skew: timedelta
) -> tuple[datetime, str | None]:
    """(NotOnOrAfter, InResponseTo) of the first bearer confirmation that holds; else the first refusal."""
    subject = _one(assertion, f"{{{SAML_NS}}}Subject", "Subject")
    if subject is None:
        raise SamlRejected(RejectCode.missing_subject, "The assertion has no Subject.")
    bearers = [
        c
        for c in subject.findall(f"{{{SAML_NS}}}SubjectConfirmation")
        if c.get("Method") == CM_BEARER
    ]
    if not bearers:
        raise SamlRejected(
            RejectCode.missing_subject, "The assertion's Subject has no bearer SubjectConfirmation."
        )
    first_error: SamlRejected | None = None
    for confirmation in bearers:
        try:
            return _check_bearer(root, confirmation, acs_url=acs_url, now=now, skew=skew)
        except SamlRejected as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def _check_bearer(
    root: etree._Element, confirmation: etree._Element, *, acs_url: str, now: datetime, skew: timedelta
) -> tuple[datetime, str | None]:
    data = _one(confirmation, f"{{{SAML_NS}}}SubjectConfirmationData", "SubjectConfirmationData")
    if data is None:
        raise SamlRejected(RejectCode.recipient_mismatch, "The bearer SubjectConfirmation has no Recipient.")
    recipient = data.get("Recipient")
    if recipient != acs_url:
        raise SamlRejected(
            RejectCode.recipient_mismatch,
            f"The assertion is meant for {recipient!r}, not this organisation's sign-in URL {acs_url!r}. "
            "Update the Reply URL (Assertion Consumer Service URL) in the IdP.",
        )
    not_on_or_after = _instant(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
    if not_on_or_after is None:
        raise SamlRejected(
            RejectCode.malformed,
            "The assertion's SubjectConfirmationData has no NotOnOrAfter, which SAML requires for bearer assertions.",
        )
    if now - skew >= not_on_or_after:
        raise _expired("The assertion's confirmation window", not_on_or_after, now)
    not_before = _instant(data.get("NotBefore"), "SubjectConfirmationData NotBefore")
    if not_before is not None and now + skew < not_before:
        raise _not_yet_valid(not_before, now)
    response_irt, confirmation_irt = root.get("InResponseTo"), data.get("InResponseTo")
    if response_irt is not None and confirmation_irt is not None and response_irt != confirmation_irt:
        raise SamlRejected(
            RejectCode.in_response_to_mismatch,
            "The response and its assertion answer different sign-in requests (InResponseTo differs).",
        )
    return not_on_or_after, confirmation_irt if confirmation_irt is not None else response_irt


def _check_conditions(
    assertion: etree._Element, *, sp_entity_id: str, now: datetime, skew: timedelta
) -> datetime | None:
    conditions = _one(assertion, f"{{{SAML_NS}}}Conditions", "Conditions")
    if conditions is None:
        raise SamlRejected(
            RejectCode.audience_mismatch, "The assertion has no Conditions, so it names no audience."
        )
    not_before = _instant(conditions.get("NotBefore"), "Conditions NotBefore")
    if not_before is not None and now + skew < not_before:
        raise _not_yet_valid(not_before, now)
    not_on_or_after = _instant(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
    if not_on_or_after is not None and now - skew >= not_on_or_after:
        raise _expired("The assertion", not_on_or_after, now)

    restrictions = conditions.findall(f"{{{SAML_NS}}}AudienceRestriction")
    if not restrictions:
        raise SamlRejected(RejectCode.audience_mismatch, "The assertion names no audience (AudienceRestriction).")
    # Several AudienceRestriction elements must all be satisfied (SAML core §2.5.1.4).
    for restriction in restrictions:
        audiences = [
            _pure_text(a, "Audience").strip() for a in restriction.findall(f"{{{SAML_NS}}}Audience")
        ]
        if sp_entity_id not in audiences:
            raise SamlRejected(
                RejectCode.audience_mismatch,
                f"The assertion is meant for {', '.join(map(repr, audiences)) or 'no audience'}, not for "
                f"Portico ({sp_entity_id!r}). Set the Identifier (Entity ID) of the Portico app in the IdP "
                f"to {sp_entity_id!r}.",
            )
    return not_on_or_after


def _expired(what: str, not_on_or_after: datetime, now: datetime) -> SamlRejected:
    return SamlRejected(
        RejectCode.expired,
        f"{what} expired at {not_on_or_after.isoformat()} (it is now {now.isoformat()}). "
        "Try signing in again; if it keeps happening, check the clocks of the IdP and of this browser's network.",
    )


def _not_yet_valid(not_before: datetime, now: datetime) -> SamlRejected:
    return SamlRejected(
        RejectCode.not_yet_valid,
        f"The assertion is not valid before {not_before.isoformat()} (it is now {now.isoformat()}). "
        "The IdP's clock is probably ahead.",
    )


def _check_pure_text(assertion: etree._Element) -> None:
    for tag, what in (("NameID", "NameID"), ("AttributeValue", "attribute value")):
        for element in assertion.iter(f"{{{SAML_NS}}}{tag}"):
            _pure_text(element, what)


def _pure_text(element: etree._Element, what: str) -> str:
    # A comment, PI or child element splits the text: readers that take the first
    # text node see "alice@corp.example" of "alice@corp.example<!---->.evil.example".
    if len(element):
        raise SamlRejected(
            RejectCode.comment_injection,
            f"The {what} contains a comment, processing instruction or element instead of plain text, "
            "a known way to forge an identity.",
        )
    return element.text or ""


def _name_id(assertion: etree._Element) -> tuple[str, str | None]:
    subject = _one(assertion, f"{{{SAML_NS}}}Subject", "Subject")
    name_id = _one(subject, f"{{{SAML_NS}}}NameID", "NameID") if subject is not None else None
    value = _pure_text(name_id, "NameID") if name_id is not None else ""
    if name_id is None or not value.strip():
        raise SamlRejected(RejectCode.missing_subject, "The assertion's Subject has no NameID.")
    return value, name_id.get("Format")


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for statement in assertion.findall(f"{{{SAML_NS}}}AttributeStatement"):
        for attribute in statement.findall(f"{{{SAML_NS}}}Attribute"):
            name = attribute.get("Name")
            if not name:
                raise SamlRejected(RejectCode.malformed, "An attribute in the assertion has no Name.")
            values = attributes.setdefault(name, [])
            values.extend(
                _pure_text(v, "attribute value") for v in attribute.findall(f"{{{SAML_NS}}}AttributeValue")
            )
    return attributes


def _session_index(assertion: etree._Element) -> str | None:
    statement = assertion.find(f"{{{SAML_NS}}}AuthnStatement")
    return statement.get("SessionIndex") if statement is not None else None


# --- small helpers ---


def _one(parent: etree._Element, tag: str, what: str) -> etree._Element | None:
    # The schema allows at most one of these; two invite parser differentials.
    found = parent.findall(tag)
    if len(found) > 1:
        raise SamlRejected(RejectCode.malformed, f"The response contains more than one {what}.")
    return found[0] if found else None


def _instant(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return xs_datetime(value)
    except ValueError as exc:
        raise SamlRejected(RejectCode.malformed, f"The {what} {value!r} {exc}.") from None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(timezone.utc)


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


def _wrapping(detail: str) -> SamlRejected:
    return SamlRejected(
        RejectCode.signature_wrapping, f"{detail} Portico refuses responses restructured around their signature."
    )


def _unsupported(what: str) -> SamlRejected:
    return SamlRejected(
        RejectCode.unsupported_algorithm,
        f"The signature uses {what}, which Portico does not accept. Portico accepts RSA or ECDSA with "
        "SHA-256/384/512, exclusive canonicalisation and the enveloped-signature transform (Entra's defaults).",
    )
