"""Untrusted IdP metadata and signing certificates: parse, check, fetch.

Everything a customer admin gives Portico about their IdP (an uploaded or fetched
metadata document, a pasted certificate, a metadata URL) is attacker-controlled
input. These are pure functions with no Django imports, so the admin views, the
scheduled metadata refresh task and management commands share one code path.

Every failure is a MetadataError whose message can be shown to the admin as-is
and whose `code` lets callers branch or log without parsing the text.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree
from requests.adapters import HTTPAdapter

from sso.types import CertificateInfo, ConfigErrorCode, IdpMetadata
from sso.xmlsafe import dtd_declaration, hardened_parser, has_dtd
from sso.xmltypes import xs_datetime

# One enum for every configuration refusal (sso.types); the metadata module raises a subset of it.
MetadataErrorCode = ConfigErrorCode


class MetadataError(ValueError):
    """IdP metadata or a certificate was refused; `str(err)` is meant for the customer admin."""

    def __init__(self, message: str, *, code: MetadataErrorCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"MetadataError({self.message!r}, code={self.code!r})"


MD_NS: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
MDUI_NS: Final = "urn:oasis:names:tc:SAML:metadata:ui"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
SAML2_PROTOCOL: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_REDIRECT: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

DEFAULT_MAX_BYTES: Final = 1_048_576
# A certificate is a few KB; anything far larger is not one, and we should not decode it.
_MAX_CERTIFICATE_CHARS: Final = 64 * 1024
_MAX_DISPLAY_NAME_CHARS: Final = 200
_MAX_URL_CHARS: Final = 2048
MAX_REDIRECTS: Final = 3

# Byte-order marks a Windows tool may put in front of the document (PowerShell 5's
# Out-File writes UTF-16LE). Longest first: the UTF-32LE mark starts with UTF-16LE's.
_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_PEM_BOUNDARY_RE: Final = re.compile(r"-----(BEGIN|END) ([A-Z0-9 ]+)-----")
_PEM_CERT_LABELS: Final = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        # A naive datetime would silently compare wrong against UTC validity dates.
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _human_size(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024 and n_bytes % (1024 * 1024) == 0:
        return f"{n_bytes // (1024 * 1024)} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.0f} KB"
    return f"{n_bytes} bytes"


def _too_large(max_bytes: int) -> MetadataError:
    return MetadataError(
        f"The metadata is larger than {_human_size(max_bytes)}, the most Portico accepts.",
        code=ConfigErrorCode.too_large,
    )


# --- Certificates -------------------------------------------------------------------


def certificate_parse(text: str | bytes) -> CertificateInfo:
    """Parse one X.509 certificate as admins paste or upload it.

    Accepts PEM, PEM missing its BEGIN/END lines, bare base64 DER (as in metadata
    or Entra's "Certificate (Base64)" download, any line endings), or raw DER bytes
    (Entra's "Certificate (Raw)" download).
    """
    if isinstance(text, bytes):
        if len(text) > _MAX_CERTIFICATE_CHARS:
            raise _not_a_certificate()
        if text[:1] == b"\x30":  # ASN.1 SEQUENCE: likely raw DER rather than text
            try:
                return _certificate_info(x509.load_der_x509_certificate(text))
            except ValueError:
                pass  # "0..." can also start base64 text; let the text path decide
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _not_a_certificate() from None
    if len(text) > _MAX_CERTIFICATE_CHARS:
        raise _not_a_certificate()
    text = text.lstrip("\ufeff")

    labels = [match.group(2) for match in _PEM_BOUNDARY_RE.finditer(text)]
    if any("PRIVATE KEY" in label for label in labels):
        raise _private_key_pasted()
    if any(label in {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"} for label in labels):
        raise MetadataError(
            "This is a certificate signing request, not a certificate. "
            "Paste the IdP's public signing certificate.",
            code=ConfigErrorCode.bad_certificate,
        )
    if any(label in {"PUBLIC KEY", "RSA PUBLIC KEY"} for label in labels):
        raise MetadataError(
            "This is a bare public key, not a certificate. "
            "Paste the IdP's public signing certificate.",
            code=ConfigErrorCode.bad_certificate,
        )
    if labels and not set(labels) <= _PEM_CERT_LABELS:
        raise _not_a_certificate()
    if sum(1 for match in _PEM_BOUNDARY_RE.finditer(text) if match.group(1) == "BEGIN") > 1:
        # A chain or a bundle: guessing which one signs would be a silent trust decision.
        raise MetadataError(
            "This text holds more than one certificate. Paste only the IdP's signing certificate.",
            code=ConfigErrorCode.bad_certificate,
        )

    begin = re.search(r"-----BEGIN [A-Z0-9 ]+-----", text)
    if begin:
        # Text before BEGIN is commentary (e.g. openssl's "Bag Attributes"), not data.
        text = text[begin.end() :]
    end = re.search(r"-----END [A-Z0-9 ]+-----", text)
    if end:
        text = text[: end.start()]
    body = "".join(text.split())  # drops spaces, LF and CRLF alike
    if not body:
        raise _not_a_certificate()
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise _not_a_certificate() from None
    return _certificate_from_der(der)


def _certificate_from_der(der: bytes) -> CertificateInfo:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        if _is_der_private_key(der):
            raise _private_key_pasted() from None
        raise _not_a_certificate() from None
    return _certificate_info(cert)


def certificate_thumbprint_sha1(pem: str) -> str:
    """The certificate's SHA-1 hash as Entra's SAML Certificates pane shows it ("Thumbprint": upper hex,
    no separators), so an admin can compare it there. Display only: Portico never trusts by SHA-1."""
    return _thumbprint_sha1(x509.load_pem_x509_certificate(pem.encode("ascii")))


def _thumbprint_sha1(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 (a display value, not a security check)


def certificate_fingerprint_sha256(cert: x509.Certificate) -> str:
    """The SHA-256 of the certificate's DER in upper-case hex pairs joined by colons, the one form
    Portico shows and stores (IdpCertificate.fingerprint_sha256, the verifier's refusals)."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _certificate_info(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        sha256_fingerprint=certificate_fingerprint_sha256(cert),
        sha1_thumbprint=_thumbprint_sha1(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _is_der_private_key(der: bytes) -> bool:
    # A key exported without its PEM armour would otherwise get the generic message.
    try:
        serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _not_a_certificate() -> MetadataError:
    return MetadataError("The certificate is not a valid X.509 certificate.", code=ConfigErrorCode.bad_certificate)


def _private_key_pasted() -> MetadataError:
    return MetadataError(
        "This is a private key, not a certificate. Paste the IdP's public signing certificate.",
        code=ConfigErrorCode.bad_certificate,
    )


def certificate_check_current(cert: CertificateInfo, *, now: datetime | None = None) -> None:
    """Refuse a certificate outside its validity window (for a single pasted certificate)."""
    moment = _utc_now(now)
    if cert.is_expired(moment):
        raise MetadataError(
            f"The certificate expired on {_day(cert.not_after)}.", code=ConfigErrorCode.expired_certificate
        )
    if cert.is_not_yet_valid(moment):
        raise MetadataError(
            f"The certificate is not valid until {_day(cert.not_before)}.",
            code=ConfigErrorCode.certificate_not_yet_valid,
        )


# --- Metadata documents ---------------------------------------------------------------


def _decode_document(document: bytes | str, max_bytes: int) -> str:
    if isinstance(document, str):
        # Each character is at least one byte: a cheap check before encoding a huge string.
        if len(document) > max_bytes:
            raise _too_large(max_bytes)
        try:
            encoded_size = len(document.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates cannot reach the parser as UTF-8
            raise _not_text() from None
        if encoded_size > max_bytes:
            raise _too_large(max_bytes)
        return document.removeprefix("\ufeff")
    if len(document) > max_bytes:
        raise _too_large(max_bytes)
    encoding = "utf-8"
    for bom, bom_encoding in _BOMS:
        if document.startswith(bom):
            document, encoding = document[len(bom) :], bom_encoding
            break
    try:
        return document.decode(encoding)
    except UnicodeDecodeError:
        raise _not_text() from None


def _not_text() -> MetadataError:
    return MetadataError(
        "The metadata is not UTF-8 (or UTF-16 with a byte-order mark) text. "
        "Download it again from the IdP without converting it.",
        code=ConfigErrorCode.bad_encoding,
    )


def _parse_xml(text: str) -> etree._Element:
    # Refused before parsing: no DTD of any kind is legitimate in SAML metadata, and
    # not parsing it at all is the only defence that does not depend on parser flags
    # (XXE, billion laughs, parameter-entity tricks; pysaml2 CVE-2016-10149).
    declaration = dtd_declaration(text)
    if declaration == "DOCTYPE":
        raise MetadataError(
            "The metadata contains a DOCTYPE declaration, which Portico refuses for security reasons.",
            code=ConfigErrorCode.doctype,
        )
    if declaration == "ENTITY":
        raise MetadataError(
            "The metadata contains an ENTITY declaration, which Portico refuses for security reasons.",
            code=ConfigErrorCode.doctype,
        )
    try:
        # Dropping comments and PIs at parse time keeps text nodes whole, so a comment
        # inside <X509Certificate> cannot split or truncate it.
        root = etree.fromstring(text.encode("utf-8"), parser=hardened_parser(keep_comments=False))
    except etree.XMLSyntaxError as exc:
        detail = f" (line {exc.lineno}: {exc.msg})" if exc.lineno else ""
        raise MetadataError(f"This file is not well-formed XML{detail}.", code=ConfigErrorCode.not_xml) from None
    # Belt and braces: the scan above should have caught any DTD.
    if has_dtd(root):
        raise MetadataError(
            "The metadata contains a DOCTYPE declaration, which Portico refuses for security reasons.",
            code=ConfigErrorCode.doctype,
        )
    return root


def _md(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def _ds(tag: str) -> str:
    return f"{{{DS_NS}}}{tag}"


def _is_saml2_idp(role: etree._Element) -> bool:
    return SAML2_PROTOCOL in role.get("protocolSupportEnumeration", "").split()


def _saml2_idp_roles(entity: etree._Element) -> list[etree._Element]:
    # Only direct children: WS-Federation RoleDescriptors and SP roles sit beside it.
    return [role for role in entity.findall(_md("IDPSSODescriptor")) if _is_saml2_idp(role)]


def _select_entity(root: etree._Element) -> etree._Element:
    if root.tag == _md("EntityDescriptor"):
        return root
    if root.tag != _md("EntitiesDescriptor"):
        raise MetadataError(
            "This file is not SAML metadata: it has no EntityDescriptor.", code=ConfigErrorCode.not_metadata
        )
    # EntitiesDescriptors may nest (federation feeds); look at every entity inside.
    idp_entities = [
        entity for entity in root.iter(_md("EntityDescriptor")) if _saml2_idp_roles(entity)
    ]
    if not idp_entities:
        raise MetadataError(
            "This file is not SAML identity-provider metadata: no IDPSSODescriptor found.",
            code=ConfigErrorCode.no_idp_role,
        )
    if len(idp_entities) > 1:
        raise MetadataError(
            f"The metadata describes {len(idp_entities)} identity providers; Portico needs the "
            "metadata of exactly one. Ask the IdP for its own metadata document.",
            code=ConfigErrorCode.multiple_idps,
        )
    return idp_entities[0]


def _select_idp_role(entity: etree._Element) -> etree._Element:
    roles = _saml2_idp_roles(entity)
    if len(roles) == 1:
        return roles[0]
    if len(roles) > 1:
        # Ambiguous keys and endpoints: refuse rather than guess which one signs.
        raise MetadataError(
            f"The metadata has {len(roles)} SAML 2.0 IDPSSODescriptor elements; Portico needs exactly one.",
            code=ConfigErrorCode.multiple_idps,
        )
    if entity.find(_md("IDPSSODescriptor")) is not None:
        raise MetadataError(
            "The identity provider in this metadata does not support SAML 2.0.",
            code=ConfigErrorCode.no_idp_role,
        )
    if entity.find(_md("SPSSODescriptor")) is not None:
        raise MetadataError(
            "This file is not SAML identity-provider metadata: no IDPSSODescriptor found "
            "(it describes a service provider).",
            code=ConfigErrorCode.no_idp_role,
        )
    raise MetadataError(
        "This file is not SAML identity-provider metadata: no IDPSSODescriptor found.",
        code=ConfigErrorCode.no_idp_role,
    )


def _check_valid_until(elements: list[etree._Element], now: datetime) -> None:
    # SAML metadata §2.3.1: a document past validUntil must not be used. Entra and
    # ADFS do not set it, but federation feeds do, and a stale refresh must not win.
    for element in elements:
        raw = element.get("validUntil")
        if raw is None:
            continue
        try:
            valid_until = xs_datetime(raw)
        except ValueError:
            raise MetadataError(
                f"The metadata has an unreadable validUntil date: {raw[:40]!r}.",
                code=ConfigErrorCode.not_metadata,
            ) from None
        if valid_until < now:
            raise MetadataError(
                f"The metadata expired on {_day(valid_until)} (validUntil). "
                "Download a current copy from the IdP.",
                code=ConfigErrorCode.metadata_expired,
            )


def _endpoint(role: etree._Element, tag: str, binding: str) -> str | None:
    for service in role.findall(_md(tag)):
        if service.get("Binding") != binding:
            continue
        location = (service.get("Location") or "").strip()
        try:
            parts = urlsplit(location)
            hostname = parts.hostname
        except ValueError:
            hostname = None
        # The browser is sent to this URL (redirect or form action): a javascript: or
        # relative location from untrusted metadata must never reach a template.
        if hostname is None or parts.scheme not in {"https", "http"}:
            raise MetadataError(
                f"The metadata's {tag} location {location[:200]!r} is not an http(s) URL.",
                code=ConfigErrorCode.bad_endpoint,
            )
        return location
    return None


def _signing_certificates(role: etree._Element) -> list[CertificateInfo]:
    found: dict[str, CertificateInfo] = {}
    for key_descriptor in role.findall(_md("KeyDescriptor")):
        # Per SAML metadata §2.4.1.1, no "use" means the key serves both purposes.
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for cert_element in key_descriptor.iterfind(
            f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}"
        ):
            try:
                cert = certificate_parse(cert_element.text or "")
            except MetadataError:
                raise MetadataError(
                    "The metadata contains a signing certificate that is not a valid X.509 certificate.",
                    code=ConfigErrorCode.bad_certificate,
                ) from None
            # IdPs repeat the same certificate; keep document order, drop duplicates.
            found.setdefault(cert.sha256_fingerprint, cert)
    return list(found.values())


def _normalise_name(text: str | None) -> str | None:
    if not text:
        return None
    name = " ".join(text.split())[:_MAX_DISPLAY_NAME_CHARS]
    return name or None


def _localised(elements: list[etree._Element]) -> str | None:
    # Prefer English, then whatever comes first: Portico's admin UI is English.
    for element in elements:
        if (element.get(XML_LANG) or "").lower().startswith("en") and _normalise_name(element.text):
            return _normalise_name(element.text)
    for element in elements:
        if _normalise_name(element.text):
            return _normalise_name(element.text)
    return None


def _display_name(entity: etree._Element, role: etree._Element, entity_id: str) -> str | None:
    name = _localised(
        role.findall(f"{_md('Extensions')}/{{{MDUI_NS}}}UIInfo/{{{MDUI_NS}}}DisplayName")
    ) or _localised(entity.findall(f"{_md('Organization')}/{_md('OrganizationDisplayName')}"))
    if name:
        return name
    return display_name_from_entity_id(entity_id)


def display_name_from_entity_id(entity_id: str) -> str | None:
    """A readable IdP name when the metadata (or a manual setup) does not give one."""
    if entity_id.startswith("https://sts.windows.net/"):
        return "Microsoft"
    if entity_id.rstrip("/").endswith("/adfs/services/trust"):
        return "ADFS"
    try:
        host = urlsplit(entity_id).hostname
    except ValueError:  # e.g. an unbalanced "[" in a URN-style entity id
        return None
    return host or None


def idp_metadata_parse(
    document: bytes | str,
    *,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> IdpMetadata:
    """Read an IdP's SAML metadata (Entra, ADFS, Okta, a federation's single entity).

    The document's own XML signature (Entra signs its metadata) is not verified and
    its ds:Signature element is simply skipped: there is no trust anchor for it. The
    trust decision is the admin's upload, or the HTTPS URL they configured.
    """
    moment = _utc_now(now)
    text = _decode_document(document, max_bytes)
    root = _parse_xml(text)
    entity = _select_entity(root)

    entity_id = entity.get("entityID") or ""
    if not entity_id.strip():
        raise MetadataError("The metadata's EntityDescriptor has no entityID.", code=ConfigErrorCode.not_metadata)

    role = _select_idp_role(entity)
    _check_valid_until([*entity.iterancestors(_md("EntitiesDescriptor")), entity, role], moment)

    sso_redirect_url = _endpoint(role, "SingleSignOnService", BINDING_REDIRECT)
    sso_post_url = _endpoint(role, "SingleSignOnService", BINDING_POST)
    if sso_redirect_url is None and sso_post_url is None:
        raise MetadataError(
            "The metadata has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding.",
            code=ConfigErrorCode.no_sso_url,
        )
    slo_url = _endpoint(role, "SingleLogoutService", BINDING_REDIRECT)

    certificates = _signing_certificates(role)
    if not certificates:
        raise MetadataError(
            "The metadata has no signing certificate for the identity provider.",
            code=ConfigErrorCode.no_signing_certificate,
        )
    # Not-yet-valid certificates stay: IdPs publish the next key before rollover.
    current = tuple(cert for cert in certificates if not cert.is_expired(moment))
    if not current:
        dates = ", ".join(sorted({_day(cert.not_after) for cert in certificates}))
        raise MetadataError(
            f"Every signing certificate in the metadata has expired (on {dates}). "
            "Download a current copy from the IdP.",
            code=ConfigErrorCode.all_certificates_expired,
        )

    return IdpMetadata(
        entity_id=entity_id,
        sso_redirect_url=sso_redirect_url,
        sso_post_url=sso_post_url,
        slo_url=slo_url,
        signing_certificates=current,
        display_name=_display_name(entity, role, entity_id),
        xml=text,
    )


# --- Fetching metadata by URL ---------------------------------------------------------

_NAT64_PREFIX: Final = ipaddress.ip_network("64:ff9b::/96")


def is_forbidden_address(address: str) -> bool:
    """True for any address a metadata fetch must not reach (SSRF: cloud metadata, intranet)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True  # unparseable: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 reaches the IPv4 host; judge that host.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_forbidden_address(str(embedded))
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Catches what the flags above miss, e.g. carrier-grade NAT 100.64.0.0/10.
        or not ip.is_global
    )


def _resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise MetadataError(
            f"Portico could not find the host {host!r} of the metadata URL.", code=ConfigErrorCode.fetch_failed
        ) from None
    return [str(info[4][0]) for info in infos]


def _private_address_error() -> MetadataError:
    return MetadataError(
        "The metadata URL points to a private or loopback address.", code=ConfigErrorCode.private_address
    )


def _check_url(url: str, *, allow_private: bool) -> None:
    if len(url) > _MAX_URL_CHARS:
        raise MetadataError("The metadata URL is too long.", code=ConfigErrorCode.bad_url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MetadataError("The metadata URL is not a valid URL.", code=ConfigErrorCode.bad_url) from None
    if parts.scheme not in {"http", "https"}:
        raise MetadataError(
            "The metadata URL must start with https:// (or http://).", code=ConfigErrorCode.bad_url
        )
    if not parts.hostname:
        raise MetadataError("The metadata URL has no host name.", code=ConfigErrorCode.bad_url)
    if allow_private:
        return
    default_port = 443 if parts.scheme == "https" else 80
    addresses = _resolve_host(parts.hostname, port or default_port)
    # Every address, not just the first: the connection may use any of them.
    if not addresses or any(is_forbidden_address(address) for address in addresses):
        raise _private_address_error()


# The host is resolved again when the connection is made, and DNS may answer
# differently the second time (DNS rebinding). So the connected peer itself is
# checked, after connect and before a single byte of the request is sent.


class _GuardedHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


def _check_peer(sock: socket.socket) -> None:
    peer = sock.getpeername()[0]
    if is_forbidden_address(str(peer)):
        sock.close()
        raise _private_address_error()


class _GuardedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def _session(*, allow_private: bool) -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would hide the real peer
    # from the address check, and credentials must never go to a customer's URL.
    session.trust_env = False
    session.headers["User-Agent"] = "Portico-SAML-metadata-fetch/1"
    session.headers["Accept"] = (
        "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
    )
    if not allow_private:
        adapter = _GuardedAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    # requests wraps urllib3 wraps socket errors, through args, .reason and __cause__.
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                stack.append(linked)


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError subclasses ConnectTimeoutError for historical
    # reasons; a refused or unreachable connection is not a timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))


def _fetch_error(exc: Exception, timeout: float) -> MetadataError:
    chain = list(_exception_chain(exc))
    for linked in chain:
        if isinstance(linked, MetadataError):
            return linked
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return MetadataError("The metadata URL refused the connection.", code=ConfigErrorCode.fetch_failed)
    if any(_is_timeout(e) for e in chain):
        return _timeout_error(timeout)
    if isinstance(exc, requests.exceptions.SSLError):
        return MetadataError(
            "The metadata URL's HTTPS certificate could not be verified.", code=ConfigErrorCode.fetch_failed
        )
    if any(isinstance(e, urllib3.exceptions.NameResolutionError) for e in chain):
        return MetadataError(
            "Portico could not find the host of the metadata URL.", code=ConfigErrorCode.fetch_failed
        )
    return MetadataError("Portico could not download the metadata URL.", code=ConfigErrorCode.fetch_failed)


def _timeout_error(timeout: float) -> MetadataError:
    return MetadataError(
        f"The metadata URL did not answer within {timeout:g} seconds.", code=ConfigErrorCode.fetch_timeout
    )


def idp_metadata_fetch(
    url: str,
    *,
    allow_private: bool = False,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """Download metadata from an admin-supplied URL, with SSRF, time and size limits.

    `timeout` bounds the whole fetch, redirects and body included, not each read.
    `allow_private` is for development (a test IdP on localhost) and disables every
    address check.
    """
    deadline = time.monotonic() + timeout
    with _session(allow_private=allow_private) as session:
        current_url = url
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current_url, allow_private=allow_private)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout_error(timeout)
            try:
                response = session.get(
                    current_url, timeout=remaining, allow_redirects=False, stream=True
                )
            except requests.RequestException as exc:
                raise _fetch_error(exc, timeout) from None
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    next_url = urljoin(current_url, location)
                    # A redirect from HTTPS to HTTP would let anyone on the path swap
                    # the signing certificate Portico is about to trust.
                    if urlsplit(current_url).scheme == "https" and urlsplit(next_url).scheme != "https":
                        raise MetadataError(
                            "The metadata URL redirected from HTTPS to plain HTTP, which Portico refuses.",
                            code=ConfigErrorCode.bad_url,
                        )
                    current_url = next_url
                    continue
                if response.status_code != 200:
                    raise MetadataError(
                        f"The metadata URL answered HTTP {response.status_code}.", code=ConfigErrorCode.fetch_failed
                    )
                return _read_capped(response, max_bytes=max_bytes, deadline=deadline, timeout=timeout)
        raise MetadataError(
            f"The metadata URL redirected more than {MAX_REDIRECTS} times.", code=ConfigErrorCode.fetch_failed
        )


def _read_capped(
    response: requests.Response, *, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    raw = response.raw
    try:
        # read1 returns what one socket read brought, so the deadline is checked between reads: a
        # server trickling a byte at a time must still stop (iter_content waits for a full chunk,
        # each read within requests' per-read timeout, and so had no bound at all). Decompressed,
        # so the cap applies to what we would parse: a small gzip bomb cannot expand past it.
        while chunk := raw.read1(64 * 1024, decode_content=True):
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
            if time.monotonic() > deadline:
                raise _timeout_error(timeout)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise _fetch_error(exc, timeout) from None
    return bytes(body)
