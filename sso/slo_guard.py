"""Strict, in-process handling of SAML 2.0 single-logout messages: verifying what an IdP sends, building
and signing what Portico sends.

Why not djangosaml2's logout views: as djangosaml2 1.12 calls pysaml2 7.5, an IdP's LogoutRequest is
accepted without its signature being checked (anyone knowing a NameID could sign a person out),
with no Destination check, no replay record, and a DOCTYPE let through. This module holds logout
messages to the same rules as sso.saml_guard holds responses: certificates pinned per tenant (KeyInfo
never trusted), DTDs refused before parsing, every refusal a `SamlRejected` with a `RejectCode`.

Bindings (SAML bindings §3.4 and §3.5):
  * HTTP-Redirect: the signature covers the query string, `SAMLRequest=…&RelayState=…&SigAlg=…`,
    **as the sender encoded it** (§3.4.4.1). Re-encoding decoded values would verify something other
    than what was signed (encoders differ in case and in which characters they escape), so the
    octets checked are cut from the raw query string as received.
  * HTTP-POST: an enveloped XML signature over the message's root, checked by saml_guard's verifier.

Pure (no Django, no I/O); the policy (which request this browser sent, replay, whose sessions end)
is sso.slo's.
"""
from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import quote_plus, unquote_plus
from uuid import uuid4

import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from sso.request_signing import SIG_ALG_RSA_SHA256, redirect_url_sign
from sso.saml_guard import (
    DS_NS,
    SAML_NS,
    SAMLP_NS,
    STATUS_SUCCESS,
    SamlRejected,
    _check_signature_shape,
    _check_unique_ids,
    _instant,
    _load_certificates,
    _pure_text,
    _verify_signature,
    xml_text_check,
)
from sso.types import LogoutMessage, RejectCode
from sso.xmlsafe import hardened_parser, has_dtd

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = SIG_ALG_RSA_SHA256
# What the Redirect binding's SigAlg may name: RSA with SHA-2 (Entra signs RSA-SHA256); never SHA-1.
_SIG_ALGS: dict[str, hashes.HashAlgorithm] = {
    RSA_SHA256: hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
}
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"

DEFAULT_MAX_BYTES = 64 * 1024  # a logout message is a few hundred bytes
DEFAULT_CLOCK_SKEW = timedelta(seconds=120)
# How old a logout message may be: the IdP sends it as it redirects the browser, so seconds in practice.
DEFAULT_MAX_AGE = timedelta(minutes=5)
_MAX_QUERY_CHARS = 4 * DEFAULT_MAX_BYTES
_MESSAGE_PARAMS = ("SAMLRequest", "SAMLResponse")


@dataclass(frozen=True)
class RedirectQuery:
    """The parameters of an HTTP-Redirect query string, each as received (still URL-encoded)."""

    param: str  # "SAMLRequest" or "SAMLResponse"
    message: str
    relay_state: str | None
    sig_alg: str | None
    signature: str | None

    def signed_octets(self) -> bytes:
        """SAML bindings §3.4.4.1: the parameters in this order, with the values as received."""
        parts = [f"{self.param}={self.message}"]
        if self.relay_state is not None:
            parts.append(f"RelayState={self.relay_state}")
        parts.append(f"SigAlg={self.sig_alg or ''}")
        return "&".join(parts).encode("ascii")


def redirect_query_parse(raw_query: str) -> RedirectQuery:
    """Split the raw query string without decoding it; refuse ambiguity (a parameter twice, both
    message kinds) rather than guess which copy was signed."""
    if len(raw_query) > _MAX_QUERY_CHARS:
        raise _too_large()
    try:
        raw_query.encode("ascii")
    except UnicodeEncodeError:
        raise SamlRejected(RejectCode.malformed, "The logout query string is not URL-encoded ASCII.") from None
    found: dict[str, str] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if name in (*_MESSAGE_PARAMS, "RelayState", "SigAlg", "Signature"):
            if name in found:
                raise SamlRejected(RejectCode.malformed, f"The logout query string carries {name} more than once.")
            found[name] = value
    params = [p for p in _MESSAGE_PARAMS if p in found]
    if len(params) != 1:
        raise SamlRejected(RejectCode.malformed,
                           "The logout query string must carry exactly one SAMLRequest or SAMLResponse.")
    return RedirectQuery(param=params[0], message=found[params[0]], relay_state=found.get("RelayState"),
                         sig_alg=found.get("SigAlg"), signature=found.get("Signature"))


def verify_logout_redirect(
    *, raw_query: str, idp_certificates: Sequence[str], expected_issuers: Collection[str], slo_url: str,
    now: datetime | None = None, clock_skew: timedelta = DEFAULT_CLOCK_SKEW, max_age: timedelta = DEFAULT_MAX_AGE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LogoutMessage:
    """Verify a logout message of the HTTP-Redirect binding from the raw query string, or SamlRejected.

    A LogoutRequest must be signed; a LogoutResponse is verified when signed and otherwise read as
    unverified (`signed=False`). Raises ValueError for a configuration error (no certificates).
    """
    certificates = _load_certificates(idp_certificates)
    now = _aware(now)
    query = redirect_query_parse(raw_query)
    kind = "request" if query.param == "SAMLRequest" else "response"
    signed = query.signature is not None
    if not signed and (kind == "request" or query.sig_alg is not None):
        raise SamlRejected(
            RejectCode.unsigned,
            "The logout request carries no signature. Portico honours only a LogoutRequest signed by this "
            "organisation's IdP (SAML bindings §3.4.4.1: Signature and SigAlg in the query string).",
        )
    if signed:
        _verify_query_signature(query, certificates)
    xml = _inflate(_b64(unquote_plus(query.message), what=query.param, max_bytes=max_bytes), max_bytes=max_bytes)
    root = _parse(xml)
    if root.find(f".//{{{DS_NS}}}Signature") is not None and not signed:
        # Redirect carries its signature in the query; an XML one here was not checked, so it proves nothing.
        raise SamlRejected(RejectCode.unsigned, "The logout message's XML signature is not how HTTP-Redirect signs.")
    relay_state = unquote_plus(query.relay_state) if query.relay_state is not None else None
    return _protocol_checks(root, xml, kind=kind, signed=signed, expected_issuers=expected_issuers, slo_url=slo_url,
                            now=now, clock_skew=clock_skew, max_age=max_age, relay_state=relay_state)


def verify_logout_post(
    *, param: str, value: str, relay_state: str | None, idp_certificates: Sequence[str],
    expected_issuers: Collection[str], slo_url: str, now: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW, max_age: timedelta = DEFAULT_MAX_AGE, max_bytes: int = DEFAULT_MAX_BYTES,
) -> LogoutMessage:
    """Verify a logout message of the HTTP-POST binding (`param` is the form field it came in), or SamlRejected."""
    if param not in _MESSAGE_PARAMS:
        raise ValueError(f"param must be one of {_MESSAGE_PARAMS}")
    certificates = _load_certificates(idp_certificates)
    now = _aware(now)
    kind = "request" if param == "SAMLRequest" else "response"
    xml = _b64(value, what=param, max_bytes=max_bytes)
    xml_text_check(xml, what="logout message")
    root = _parse(xml)
    _check_root(root, kind)
    _check_unique_ids(root)
    signatures = list(root.iter(f"{{{DS_NS}}}Signature"))
    if not signatures:
        if kind == "request":
            raise SamlRejected(RejectCode.unsigned,
                               "The logout request is not signed. Portico honours only a signed LogoutRequest.")
        element, signed = root, False
    else:
        if len(signatures) != 1 or signatures[0].getparent() is not root:
            raise SamlRejected(RejectCode.signature_wrapping,
                               "The logout message must carry exactly one signature, directly on its root element.")
        for local in ("SignedInfo", "SignatureValue", "Reference", "DigestValue"):
            if sum(1 for _ in root.iter(f"{{{DS_NS}}}{local}")) != 1:
                raise SamlRejected(RejectCode.signature_wrapping,
                                   f"The logout message contains a ds:{local} outside its signature.")
        _check_signature_shape(signatures[0], parent_id=root.get("ID", ""), part="logout message")
        element = _verify_signature(xml, part="logout message", parent=root, signature=signatures[0],
                                    certificates=certificates, now=now)
        signed = True
    return _protocol_checks(element, xml, kind=kind, signed=signed, expected_issuers=expected_issuers,
                            slo_url=slo_url, now=now, clock_skew=clock_skew, max_age=max_age, relay_state=relay_state)


# --- what Portico sends ---


def new_message_id() -> str:
    return f"_{uuid4().hex}"  # an NCName: may not start with a digit


def logout_request_xml(
    *, request_id: str, issuer: str, destination: str, name_id: str, name_id_format: str | None,
    session_index: str | None, now: datetime, lifetime: timedelta = DEFAULT_MAX_AGE,
) -> bytes:
    """A samlp:LogoutRequest for the person's SAML session (SAML core §3.7.1)."""
    root = _message_root("LogoutRequest", message_id=request_id, destination=destination, now=now)
    root.set("NotOnOrAfter", _xml_instant(now + lifetime))
    etree.SubElement(root, f"{{{SAML_NS}}}Issuer").text = issuer
    name = etree.SubElement(root, f"{{{SAML_NS}}}NameID")
    if name_id_format:
        name.set("Format", name_id_format)
    name.text = name_id
    if session_index:
        etree.SubElement(root, f"{{{SAMLP_NS}}}SessionIndex").text = session_index
    return etree.tostring(root)


def logout_response_xml(
    *, response_id: str, issuer: str, destination: str, in_response_to: str, status: str = STATUS_SUCCESS,
    now: datetime,
) -> bytes:
    """A samlp:LogoutResponse answering `in_response_to` (SAML core §3.7.2)."""
    root = _message_root("LogoutResponse", message_id=response_id, destination=destination, now=now)
    root.set("InResponseTo", in_response_to)
    etree.SubElement(root, f"{{{SAML_NS}}}Issuer").text = issuer
    status_element = etree.SubElement(root, f"{{{SAMLP_NS}}}Status")
    etree.SubElement(status_element, f"{{{SAMLP_NS}}}StatusCode", {"Value": status})
    return etree.tostring(root)


def redirect_url_signed(
    *, location: str, param: str, xml: bytes, relay_state: str | None, private_key_pem: bytes,
) -> str:
    """`location` with the message DEFLATE-d and base64-ed, signed RSA-SHA256 over the query string as
    sent (SAML bindings §3.4.4.1) by the one redirect signer, sso.request_signing."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    encoded = base64.b64encode(deflater.compress(xml) + deflater.flush()).decode("ascii")
    # quote_plus, as form encoding does: verifiers that re-encode the decoded values (pysaml2 does) then
    # rebuild these very octets, so Portico's signature holds there too.
    parts = [f"{param}={quote_plus(encoded, safe='')}"]
    if relay_state:
        parts.append(f"RelayState={quote_plus(relay_state, safe='')}")
    separator = "&" if "?" in location else "?"
    return redirect_url_sign(url=f"{location}{separator}{'&'.join(parts)}", private_key_pem=private_key_pem)


# --- checks ---


def _verify_query_signature(query: RedirectQuery, certificates: Sequence[x509.Certificate]) -> None:
    algorithm = _SIG_ALGS.get(unquote_plus(query.sig_alg or ""))
    if algorithm is None:
        raise SamlRejected(
            RejectCode.unsupported_algorithm,
            f"The logout message is signed with {unquote_plus(query.sig_alg or '(no SigAlg)')!r}; Portico accepts "
            "RSA-SHA256, RSA-SHA384 or RSA-SHA512.",
        )
    try:
        signature = base64.b64decode("".join(unquote_plus(query.signature or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SamlRejected(RejectCode.signature_invalid, "The logout message's Signature is not base64.") from None
    octets = query.signed_octets()
    for certificate in certificates:
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(signature, octets, padding.PKCS1v15(), algorithm)
        except (cryptography.exceptions.InvalidSignature, ValueError):
            continue
        return
    raise SamlRejected(
        RejectCode.signature_invalid,
        "The logout message's signature does not verify with any signing certificate configured for this "
        "organisation: it was signed by another key, or the query string was altered on the way.",
    )


def _protocol_checks(
    root: etree._Element, xml: bytes, *, kind: str, signed: bool, expected_issuers: Collection[str], slo_url: str,
    now: datetime, clock_skew: timedelta, max_age: timedelta, relay_state: str | None,
) -> LogoutMessage:
    _check_root(root, kind)
    issuer = _issuer(root, expected_issuers)
    destination = root.get("Destination")
    if destination is None and signed:
        # SAML bindings §3.4.5.2 / §3.5.5.2: a signed message MUST name its Destination.
        raise SamlRejected(RejectCode.destination_mismatch, "The signed logout message has no Destination.")
    if destination is not None and destination != slo_url:
        raise SamlRejected(
            RejectCode.destination_mismatch,
            f"The logout message was addressed to {destination!r}, not to this organisation's logout URL "
            f"{slo_url!r}. Set the IdP's Logout URL to {slo_url!r}.",
        )
    issue_instant = _time(root.get("IssueInstant"), "IssueInstant")
    if issue_instant is None:
        raise SamlRejected(RejectCode.malformed, "The logout message has no IssueInstant.")
    if issue_instant > now + clock_skew:
        raise SamlRejected(RejectCode.not_yet_valid, f"The logout message was issued at {issue_instant.isoformat()}, "
                           f"in the future (it is now {now.isoformat()}): the IdP's clock is ahead.")
    if issue_instant < now - clock_skew - max_age:
        raise SamlRejected(RejectCode.expired, f"The logout message was issued at {issue_instant.isoformat()}, "
                           f"more than {max_age} ago (it is now {now.isoformat()}).")
    message = LogoutMessage(kind=kind, message_id=root.get("ID", ""), issuer=issuer, destination=destination,
                            issue_instant=issue_instant, signed=signed, relay_state=relay_state,
                            xml=xml.decode("utf-8"))
    if kind == "response":
        in_response_to = root.get("InResponseTo")
        if not in_response_to:
            raise SamlRejected(RejectCode.in_response_to_mismatch, "The LogoutResponse has no InResponseTo.")
        code = root.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
        return replace(message, in_response_to=in_response_to, status=code.get("Value") if code is not None else None)
    not_on_or_after = _time(root.get("NotOnOrAfter"), "NotOnOrAfter")
    if not_on_or_after is not None and now - clock_skew >= not_on_or_after:
        raise SamlRejected(RejectCode.expired, f"The logout request expired at {not_on_or_after.isoformat()}.")
    if root.find(f"{{{SAML_NS}}}EncryptedID") is not None:
        raise SamlRejected(RejectCode.malformed, "The logout request names the person by an EncryptedID, which "
                           "Portico does not read.")
    names = root.findall(f"{{{SAML_NS}}}NameID")
    if len(names) != 1 or not _pure_text(names[0], "NameID").strip():
        raise SamlRejected(RejectCode.missing_subject, "The logout request does not name exactly one person (NameID).")
    indexes = tuple(_pure_text(i, "SessionIndex").strip() for i in root.findall(f"{{{SAMLP_NS}}}SessionIndex"))
    return replace(message, name_id=_pure_text(names[0], "NameID").strip(), name_id_format=names[0].get("Format"),
                   session_indexes=indexes, not_on_or_after=not_on_or_after)


def _check_root(root: etree._Element, kind: str) -> None:
    expected = "LogoutRequest" if kind == "request" else "LogoutResponse"
    if root.tag != f"{{{SAMLP_NS}}}{expected}":
        raise SamlRejected(RejectCode.malformed,
                           f"Expected a SAML 2.0 {expected} but received <{etree.QName(root).localname}>.")
    if root.get("Version") != "2.0":
        raise SamlRejected(RejectCode.malformed, "The logout message is not SAML version 2.0.")
    if not root.get("ID"):
        raise SamlRejected(RejectCode.malformed, "The logout message has no ID.")


def _issuer(root: etree._Element, expected_issuers: Collection[str]) -> str:
    found = root.findall(f"{{{SAML_NS}}}Issuer")
    if len(found) != 1:
        raise SamlRejected(RejectCode.issuer_mismatch, "The logout message does not name exactly one Issuer.")
    value = _pure_text(found[0], "Issuer").strip()
    if value not in expected_issuers:
        raise SamlRejected(
            RejectCode.issuer_mismatch,
            f"The logout message was issued by {value!r}, not by this organisation's IdP "
            f"({', '.join(map(repr, sorted(expected_issuers)))}).",
        )
    return value


# --- decoding and parsing ---


def _b64(value: str, *, what: str, max_bytes: int) -> bytes:
    if len(value) > 2 * max_bytes:
        raise _too_large()
    compact = "".join(value.split())
    if not compact:
        raise SamlRejected(RejectCode.malformed, f"The {what} parameter is empty.")
    try:
        raw = base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRejected(RejectCode.malformed, f"The {what} parameter is not valid base64.") from None
    if len(raw) > max_bytes:
        raise _too_large()
    return raw


def _inflate(raw: bytes, *, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(raw, max_bytes + 1)  # bounded: a few KB of DEFLATE can expand to gigabytes
    except zlib.error:
        raise SamlRejected(RejectCode.malformed, "The logout message is not DEFLATE-compressed as HTTP-Redirect "
                           "requires.") from None
    if inflater.unconsumed_tail or len(xml) > max_bytes:
        raise _too_large()
    xml_text_check(xml, what="logout message")
    return xml


def _parse(xml: bytes) -> etree._Element:
    try:
        root = etree.fromstring(xml, parser=hardened_parser(keep_comments=True))
    except etree.XMLSyntaxError:
        raise SamlRejected(RejectCode.malformed, "The logout message is not well-formed XML.") from None
    if has_dtd(root) or any(True for _ in root.iter(etree.Entity)):
        raise SamlRejected(RejectCode.doctype, "The logout message contains a DTD or entities, which Portico refuses.")
    return root


def _too_large() -> SamlRejected:
    return SamlRejected(RejectCode.too_large, "The logout message is larger than Portico accepts.")


def _time(value: str | None, what: str) -> datetime | None:
    return _instant(value, f"logout message {what}")


def _aware(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(timezone.utc)


def _message_root(tag: str, *, message_id: str, destination: str, now: datetime) -> etree._Element:
    root = etree.Element(f"{{{SAMLP_NS}}}{tag}", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS})
    root.set("ID", message_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", _xml_instant(now))
    root.set("Destination", destination)
    return root


def _xml_instant(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "BINDING_POST", "BINDING_REDIRECT", "STATUS_PARTIAL_LOGOUT", "STATUS_REQUESTER", "STATUS_SUCCESS",
    "RedirectQuery", "logout_request_xml", "logout_response_xml", "new_message_id", "redirect_query_parse",
    "redirect_url_signed", "verify_logout_post", "verify_logout_redirect",
]
