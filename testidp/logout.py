"""Single logout as Entra ID does it: signed LogoutRequests and LogoutResponses (HTTP-Redirect, and
HTTP-POST for SPs that take it), Entra's logout Issuer, and a check of the SP's signed LogoutRequest.

Written independently of Portico's sso.slo_guard (the same standard, other code), so a test that
passes proves the two agree on the wire format rather than share a bug.
"""
from __future__ import annotations

import base64
import binascii
import urllib.request
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote_plus, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from sso.xmlsafe import dtd_declaration, hardened_parser, has_dtd
from testidp.errors import InvalidInput
from testidp.keys import KeyPair
from testidp.signing import DS_NS, SAML_NS, _private_key, sign_enveloped

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
MAX_XML_BYTES = 64 * 1024


@dataclass(frozen=True)
class LogoutRequestInfo:
    id: str
    issuer: str
    destination: str | None
    name_id: str
    session_index: str | None
    relay_state: str | None


def logout_request_xml(
    *, issuer: str, destination: str | None, name_id: str, request_id: str, session_index: str | None = None,
    issue_instant: datetime | None = None, not_on_or_after: datetime | None = None, doctype: bool = False,
) -> str:
    now = issue_instant or datetime.now(timezone.utc)
    root = _root("LogoutRequest", request_id, destination, now)
    root.set("NotOnOrAfter", _instant(not_on_or_after or now + timedelta(minutes=5)))
    etree.SubElement(root, f"{{{SAML_NS}}}Issuer").text = issuer
    etree.SubElement(root, f"{{{SAML_NS}}}NameID",
                     {"Format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}).text = name_id
    if session_index:
        etree.SubElement(root, f"{{{SAMLP_NS}}}SessionIndex").text = session_index
    xml = etree.tostring(root, encoding="unicode")
    return f'<!DOCTYPE LogoutRequest [<!ENTITY x "y">]>{xml}' if doctype else xml


def logout_response_xml(
    *, issuer: str, destination: str | None, in_response_to: str, response_id: str, status: str = STATUS_SUCCESS,
    issue_instant: datetime | None = None,
) -> str:
    root = _root("LogoutResponse", response_id, destination, issue_instant or datetime.now(timezone.utc))
    root.set("InResponseTo", in_response_to)
    etree.SubElement(root, f"{{{SAML_NS}}}Issuer").text = issuer
    status_element = etree.SubElement(root, f"{{{SAMLP_NS}}}Status")
    etree.SubElement(status_element, f"{{{SAMLP_NS}}}StatusCode", {"Value": status})
    return etree.tostring(root, encoding="unicode")


def redirect_url(*, location: str, param: str, xml: str, relay_state: str | None, keypair: KeyPair | None) -> str:
    """HTTP-Redirect binding: DEFLATE, base64, URL-encode; signed over the query string when `keypair`."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = base64.b64encode(deflater.compress(xml.encode("utf-8")) + deflater.flush()).decode("ascii")
    query = f"{param}={quote(payload, safe='')}"
    if relay_state is not None:
        query += f"&RelayState={quote(relay_state, safe='')}"
    if keypair is not None:
        query += f"&SigAlg={quote(RSA_SHA256, safe='')}"
        signature = _private_key(keypair.key_pem).sign(query.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        query += f"&Signature={quote(base64.b64encode(signature).decode('ascii'), safe='')}"
    return f"{location}{'&' if '?' in location else '?'}{query}"


def post_value(xml: str, *, keypair: KeyPair | None) -> str:
    """HTTP-POST binding: the message (enveloped-signed when `keypair`) in base64."""
    if keypair is not None:
        root = etree.fromstring(xml.encode("utf-8"))
        xml = etree.tostring(sign_enveloped(root, root, keypair), encoding="unicode")
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def verify_redirect_message(raw_query: str, *, param: str, certificate_pem: str | None) -> tuple[etree._Element, str | None]:
    """Check the signature of a Redirect-binding message over the raw query string as received (SAML
    bindings §3.4.4.1) and return (its root element, RelayState). Raises InvalidInput when it is
    unsigned or does not verify with `certificate_pem`."""
    params: dict[str, str] = {}
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name in params:
            raise InvalidInput(f"{name} given more than once")
        params[name] = value
    if param not in params:
        raise InvalidInput(f"{param} is missing")
    if "Signature" not in params or unquote_plus(params.get("SigAlg", "")) != RSA_SHA256:
        raise InvalidInput(f"the {param} is not signed RSA-SHA256 (Entra requires signed logout messages)")
    if certificate_pem is None:
        raise InvalidInput("this IdP has no certificate registered for the SP that sent it")
    signed = f"{param}={params[param]}"
    if "RelayState" in params:
        signed += f"&RelayState={params['RelayState']}"
    signed += f"&SigAlg={params['SigAlg']}"
    key = x509.load_pem_x509_certificate(certificate_pem.encode("ascii")).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidInput("the SP certificate is not RSA")
    try:
        key.verify(base64.b64decode(unquote_plus(params["Signature"])), signed.encode("ascii"), padding.PKCS1v15(),
                   hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        raise InvalidInput(f"the {param}'s signature does not verify with the SP's certificate") from None
    relay_state = unquote_plus(params["RelayState"]) if "RelayState" in params else None
    return _inflate_parse(unquote_plus(params[param])), relay_state


def verify_redirect_request(raw_query: str, *, sp_certificate_pem: str | None) -> LogoutRequestInfo:
    """The SP's signed LogoutRequest from a raw query string, verified (see `verify_redirect_message`)."""
    root, relay_state = verify_redirect_message(raw_query, param="SAMLRequest", certificate_pem=sp_certificate_pem)
    if root.tag != f"{{{SAMLP_NS}}}LogoutRequest":
        raise InvalidInput("SAMLRequest is not a LogoutRequest")
    return LogoutRequestInfo(
        id=root.get("ID") or "", issuer=(root.findtext(f"{{{SAML_NS}}}Issuer") or "").strip(),
        destination=root.get("Destination"), name_id=(root.findtext(f"{{{SAML_NS}}}NameID") or "").strip(),
        session_index=root.findtext(f"{{{SAMLP_NS}}}SessionIndex"), relay_state=relay_state,
    )


def verify_redirect_request_any(raw_query: str, *, sp_certificate_pems: tuple[str | None, ...]) -> LogoutRequestInfo:
    """`verify_redirect_request` with each of the SP's certificates (several during its key rotation)."""
    if not any(sp_certificate_pems):
        raise InvalidInput("the SP publishes no signing certificate, so its LogoutRequest cannot be verified "
                           "(Entra refuses it too)")
    error: InvalidInput | None = None
    for pem in sp_certificate_pems:
        try:
            return verify_redirect_request(raw_query, sp_certificate_pem=pem)
        except InvalidInput as exc:
            error = error or exc
    assert error is not None
    raise error


def sp_metadata_fetch(entity_id: str) -> tuple[tuple[str, ...], str]:
    """(signing certificates in PEM, HTTP-Redirect SingleLogoutService URL) from the SP metadata served at
    its entity ID (Portico's entity ID is its metadata URL)."""
    if urlsplit(entity_id).scheme not in ("http", "https"):
        raise InvalidInput(f"no service provider {entity_id!r} is registered at this IdP")
    try:
        with urllib.request.urlopen(entity_id, timeout=5) as answer:  # noqa: S310 (http(s) only, checked above)
            document = answer.read(MAX_XML_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the SP's metadata at {entity_id}: {exc}") from None
    if len(document) > MAX_XML_BYTES:
        raise InvalidInput("the SP's metadata is too large")
    root = _parse(document, what="the SP's metadata")
    sp = root.find(f"{{{MD_NS}}}SPSSODescriptor")
    if sp is None:
        raise InvalidInput("the SP's metadata has no SPSSODescriptor")
    certificates = tuple(
        "-----BEGIN CERTIFICATE-----\n" + "".join((key.findtext(f".//{{{DS_NS}}}X509Certificate") or "").split())
        + "\n-----END CERTIFICATE-----\n"
        for key in sp.findall(f"{{{MD_NS}}}KeyDescriptor") if key.get("use") in (None, "signing")
        and key.findtext(f".//{{{DS_NS}}}X509Certificate"))
    slo = [s.get("Location") for s in sp.findall(f"{{{MD_NS}}}SingleLogoutService")
           if s.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"]
    if not slo or not slo[0]:
        raise InvalidInput("the SP's metadata has no HTTP-Redirect SingleLogoutService")
    return certificates, slo[0]


def peek_issuer(raw_query: str) -> str:
    """The Issuer of a Redirect-binding SAMLRequest, unverified (to find which SP's certificate to use)."""
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name == "SAMLRequest":
            return (_inflate_parse(unquote_plus(value)).findtext(f"{{{SAML_NS}}}Issuer") or "").strip()
    raise InvalidInput("SAMLRequest is missing")


def _inflate_parse(value: str) -> etree._Element:
    try:
        raw = base64.b64decode(value, validate=True)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        xml = inflater.decompress(raw, MAX_XML_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise InvalidInput("SAMLRequest is not base64 of raw DEFLATE") from None
    if len(xml) > MAX_XML_BYTES:
        raise InvalidInput("SAMLRequest is too large")
    return _parse(xml, what="SAMLRequest")


def _parse(xml: bytes, *, what: str) -> etree._Element:
    # Portico's own hardened parsing (sso.xmlsafe, which needs only lxml), as for AuthnRequests.
    if dtd_declaration(xml):
        raise InvalidInput(f"{what} carries a DTD")
    try:
        root = etree.fromstring(xml, parser=hardened_parser(keep_comments=True))
    except (etree.XMLSyntaxError, ValueError):
        raise InvalidInput(f"{what} is not well-formed XML") from None
    if has_dtd(root):
        raise InvalidInput(f"{what} carries a DTD")
    return root


def _root(tag: str, message_id: str, destination: str | None, now: datetime) -> etree._Element:
    root = etree.Element(f"{{{SAMLP_NS}}}{tag}", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS})
    root.set("ID", message_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", _instant(now))
    if destination is not None:
        root.set("Destination", destination)
    return root


def _instant(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
