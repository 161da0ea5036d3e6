"""IdP metadata and certificate handling: real IdP documents, hostile input, fetching.

Pure pytest (no Django): run with -p no:django.
"""
from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sso import metadata as metadata_module
from sso.metadata import (
    MetadataError,
    certificate_check_current,
    certificate_parse,
    idp_metadata_fetch,
    idp_metadata_parse,
    is_forbidden_address,
)
from sso.testidp.keys import generate_keypair

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
ENTRA = FIXTURES / "entra-federationmetadata-common.xml"
ADFS = FIXTURES / "adfs-federationmetadata.xml"

# Fixed clock: both real documents hold certificates valid on this day, and the
# tests must not start failing when the wall clock passes a certificate's expiry.
NOW = datetime(2027, 1, 1, tzinfo=UTC)


# --- helpers ---------------------------------------------------------------------------


def make_certificate(
    *,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=365),
    common_name: str = "Test IdP Signing",
) -> tuple[x509.Certificate, PrivateKeyTypes]:
    pair = generate_keypair(common_name, valid_from=not_before, valid_until=not_after)
    cert = x509.load_pem_x509_certificate(pair.cert_pem.encode("ascii"))
    key = serialization.load_pem_private_key(pair.key_pem.encode("ascii"), password=None)
    return cert, key


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_descriptor(cert: x509.Certificate, use: str | None = "signing") -> str:
    use_attr = f' use="{use}"' if use else ""
    return (
        f'<KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der_b64(cert)}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"
    )


REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def idp_entity(
    *,
    entity_id: str = "https://idp.example.com/saml",
    key_descriptors: str | None = None,
    services: str | None = None,
    extra_roles: str = "",
    organization: str = "",
    namespaces: bool = True,
) -> str:
    if key_descriptors is None:
        key_descriptors = key_descriptor(make_certificate()[0])
    if services is None:
        services = (
            f'<SingleSignOnService Binding="{REDIRECT}" Location="https://idp.example.com/sso/redirect"/>'
            f'<SingleSignOnService Binding="{POST}" Location="https://idp.example.com/sso/post"/>'
        )
    ns = (
        ' xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
        if namespaces
        else ""
    )
    return (
        f'<EntityDescriptor{ns} entityID="{entity_id}">{extra_roles}'
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key_descriptors}{services}</IDPSSODescriptor>{organization}</EntityDescriptor>"
    )


def assert_refused(code: str, call: Callable[[], object]) -> MetadataError:
    with pytest.raises(MetadataError) as info:
        call()
    assert info.value.code == code, str(info.value)
    assert str(info.value).endswith("."), "messages are sentences for an admin"
    return info.value


# --- the real IdP documents ---------------------------------------------------------------


def test_entra_common_metadata_imports_unchanged() -> None:
    raw = ENTRA.read_bytes()
    meta = idp_metadata_parse(raw, now=NOW)

    assert meta.entity_id == "https://sts.windows.net/{tenantid}/"
    assert meta.sso_redirect_url == "https://login.microsoftonline.com/common/saml2"
    assert meta.sso_post_url == "https://login.microsoftonline.com/common/saml2"
    assert meta.slo_url == "https://login.microsoftonline.com/common/saml2"
    assert meta.display_name == "Microsoft"
    assert len(meta.signing_certificates) == 4
    assert len({c.sha256_fingerprint for c in meta.signing_certificates}) == 4
    # The file starts with a UTF-8 byte-order mark; the text is otherwise untouched.
    assert meta.xml == raw.decode("utf-8-sig")


def test_adfs_metadata_takes_only_the_idp_signing_certificate() -> None:
    raw = ADFS.read_bytes()
    meta = idp_metadata_parse(raw, now=NOW)

    assert meta.entity_id == "http://sts.ait.dtu.dk/adfs/services/trust"
    assert meta.sso_redirect_url == "https://sts.ait.dtu.dk/adfs/ls/"
    assert meta.display_name == "ADFS"
    assert [c.subject for c in meta.signing_certificates] == ["CN=ADFS Signing - sts.ait.dtu.dk"]
    assert meta.xml == raw.decode("utf-8")


def test_real_metadata_parses_from_text_as_well_as_bytes() -> None:
    text = ADFS.read_text(encoding="utf-8")
    assert idp_metadata_parse(text, now=NOW).entity_id == "http://sts.ait.dtu.dk/adfs/services/trust"


def test_entra_metadata_with_every_certificate_expired_names_the_dates() -> None:
    error = assert_refused(
        "all_certificates_expired",
        lambda: idp_metadata_parse(ENTRA.read_bytes(), now=datetime(2032, 1, 1, tzinfo=UTC)),
    )
    assert "2031-01-10" in str(error) and "2031-02-05" in str(error)


def test_certificate_info_fields_are_normalised() -> None:
    cert = idp_metadata_parse(ADFS.read_bytes(), now=NOW).signing_certificates[0]
    assert cert.pem.startswith("-----BEGIN CERTIFICATE-----\n")
    parts = cert.sha256_fingerprint.split(":")
    assert len(parts) == 32 and all(len(p) == 2 and p == p.upper() for p in parts)
    assert cert.not_before.tzinfo is not None and cert.not_after.utcoffset() == timedelta(0)
    assert cert.not_after == datetime(2029, 8, 26, 12, 22, 3, tzinfo=UTC)
    assert not cert.is_expired(NOW)
    assert cert.is_expired(datetime(2030, 1, 1, tzinfo=UTC))
    assert cert.expires_within(datetime(2029, 8, 1, tzinfo=UTC), timedelta(days=30))
    assert not cert.expires_within(NOW, timedelta(days=30))


# --- hostile and broken documents -----------------------------------------------------------

XXE = (
    '<?xml version="1.0"?><!DOCTYPE EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>'
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol9;"/>'
)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param('<!DOCTYPE EntityDescriptor><EntityDescriptor/>', id="plain-doctype"),
        pytest.param(XXE, id="xxe"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(XXE.encode("utf-16"), id="xxe-utf16-with-bom"),
        pytest.param(
            "<!doctype x SYSTEM 'http://attacker.example/x.dtd'>" + idp_entity(), id="lowercase"
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<!-- hidden -->\n<!DOCTYPE x [<!ENTITY % p SYSTEM "http://a.example/">%p;]>'
            + idp_entity(),
            id="parameter-entity",
        ),
    ],
)
def test_doctype_and_entity_declarations_are_refused_before_parsing(document: str | bytes) -> None:
    error = assert_refused("doctype", lambda: idp_metadata_parse(document, now=NOW))
    assert "security reasons" in str(error)


def test_signed_real_metadata_with_doctype_prepended_is_refused() -> None:
    text = ADFS.read_text(encoding="utf-8")
    assert_refused("doctype", lambda: idp_metadata_parse("<!DOCTYPE x []>" + text, now=NOW))


@pytest.mark.parametrize(
    "document", [b"", b"not xml at all", b"<EntityDescriptor", b'{"json": true}', "<a><b></a>"]
)
def test_input_that_is_not_xml_is_refused(document: bytes | str) -> None:
    error = assert_refused("not_xml", lambda: idp_metadata_parse(document, now=NOW))
    assert str(error).startswith("This file is not well-formed XML")


@pytest.mark.parametrize("document", [b"\x89PNG\r\n\x1a\n\xff\xd8\xff", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3"])
def test_binary_files_are_refused_as_not_text(document: bytes) -> None:
    assert_refused("bad_encoding", lambda: idp_metadata_parse(document, now=NOW))


@pytest.mark.parametrize(
    "document",
    [
        "<html><body>Sign in</body></html>",
        '<feed xmlns="http://www.w3.org/2005/Atom"/>',
        # Right element name, wrong (missing) namespace.
        idp_entity(namespaces=False).replace("ds:", ""),
    ],
)
def test_xml_that_is_not_saml_metadata_is_refused(document: str) -> None:
    error = assert_refused("not_metadata", lambda: idp_metadata_parse(document, now=NOW))
    assert "not SAML metadata" in str(error)


def test_metadata_with_only_an_sp_role_is_refused() -> None:
    cert, _ = make_certificate()
    document = (
        '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.example.com">'
        '<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key_descriptor(cert)}"
        '<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        'Location="https://sp.example.com/acs" index="0"/></SPSSODescriptor></EntityDescriptor>'
    )
    error = assert_refused("no_idp_role", lambda: idp_metadata_parse(document, now=NOW))
    assert "no IDPSSODescriptor found" in str(error)
    assert "service provider" in str(error)


def test_metadata_without_any_sso_url_is_refused() -> None:
    document = idp_entity(
        services='<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" '
        'Location="https://idp.example.com/soap"/>'
    )
    assert_refused("no_sso_url", lambda: idp_metadata_parse(document, now=NOW))


def test_post_only_idp_is_accepted() -> None:
    document = idp_entity(
        services=f'<SingleSignOnService Binding="{POST}" Location="https://idp.example.com/post"/>'
    )
    meta = idp_metadata_parse(document, now=NOW)
    assert (meta.sso_redirect_url, meta.sso_post_url) == (None, "https://idp.example.com/post")


@pytest.mark.parametrize("location", ["javascript:alert(1)", "/relative/sso", "data:text/html,x"])
def test_sso_url_that_is_not_http_is_refused(location: str) -> None:
    document = idp_entity(services=f'<SingleSignOnService Binding="{REDIRECT}" Location="{location}"/>')
    assert_refused("bad_endpoint", lambda: idp_metadata_parse(document, now=NOW))


def test_oversized_metadata_is_refused_before_parsing() -> None:
    assert_refused("too_large", lambda: idp_metadata_parse(ADFS.read_bytes(), now=NOW, max_bytes=10_000))
    assert_refused("too_large", lambda: idp_metadata_parse(ADFS.read_text(), now=NOW, max_bytes=10_000))
    padded = idp_entity() + " " * 1_048_577
    assert_refused("too_large", lambda: idp_metadata_parse(padded, now=NOW))


def test_all_expired_signing_certificates_are_refused_with_dates() -> None:
    old_a, _ = make_certificate(
        not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2024, 1, 1, tzinfo=UTC)
    )
    old_b, _ = make_certificate(
        not_before=datetime(2021, 1, 1, tzinfo=UTC), not_after=datetime(2025, 6, 30, tzinfo=UTC)
    )
    document = idp_entity(key_descriptors=key_descriptor(old_a) + key_descriptor(old_b))
    error = assert_refused("all_certificates_expired", lambda: idp_metadata_parse(document, now=NOW))
    assert "2024-01-01" in str(error) and "2025-06-30" in str(error)


def test_expired_certificates_are_dropped_and_rollover_certificates_kept() -> None:
    expired, _ = make_certificate(not_after=NOW - timedelta(days=1), not_before=NOW - timedelta(days=400))
    current, _ = make_certificate(common_name="current")
    upcoming, _ = make_certificate(not_before=NOW + timedelta(days=10), common_name="next")
    document = idp_entity(
        key_descriptors=key_descriptor(expired) + key_descriptor(current) + key_descriptor(upcoming, use=None)
    )
    meta = idp_metadata_parse(document, now=NOW)
    assert [c.subject for c in meta.signing_certificates] == ["CN=current", "CN=next"]


def test_encryption_keys_are_ignored_and_duplicates_merged() -> None:
    signing, _ = make_certificate(common_name="signing")
    encryption, _ = make_certificate(common_name="encryption")
    document = idp_entity(
        key_descriptors=key_descriptor(encryption, use="encryption")
        + key_descriptor(signing)
        + key_descriptor(signing, use=None)
    )
    meta = idp_metadata_parse(document, now=NOW)
    assert [c.subject for c in meta.signing_certificates] == ["CN=signing"]


def test_idp_with_only_an_encryption_key_is_refused() -> None:
    encryption, _ = make_certificate()
    document = idp_entity(key_descriptors=key_descriptor(encryption, use="encryption"))
    assert_refused("no_signing_certificate", lambda: idp_metadata_parse(document, now=NOW))


def test_corrupt_certificate_in_metadata_is_refused() -> None:
    bad = (
        '<KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        "TUlJQyBub3QgYSBjZXJ0"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"
    )
    assert_refused("bad_certificate", lambda: idp_metadata_parse(idp_entity(key_descriptors=bad), now=NOW))


def test_comment_inside_certificate_text_does_not_truncate_it() -> None:
    cert, _ = make_certificate(common_name="split")
    b64 = der_b64(cert)
    split = (
        '<KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{b64[:20]}<!-- x -->\r\n{b64[20:]}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"
    )
    meta = idp_metadata_parse(idp_entity(key_descriptors=split), now=NOW)
    assert meta.signing_certificates[0].subject == "CN=split"


def test_entities_descriptor_with_one_idp_is_accepted() -> None:
    sp_only = (
        '<EntityDescriptor entityID="https://sp.example.com"><SPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>'
    )
    document = (
        '<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{sp_only}'
        f'{idp_entity(entity_id="https://idp.example.org/idp", namespaces=False)}</EntitiesDescriptor>'
    )
    meta = idp_metadata_parse(document, now=NOW)
    assert meta.entity_id == "https://idp.example.org/idp"
    assert meta.display_name == "idp.example.org"


def test_entities_descriptor_with_several_idps_names_the_count() -> None:
    idps = "".join(
        idp_entity(entity_id=f"https://idp{i}.example.org/idp", namespaces=False) for i in range(3)
    )
    document = (
        '<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{idps}</EntitiesDescriptor>'
    )
    error = assert_refused("multiple_idps", lambda: idp_metadata_parse(document, now=NOW))
    assert "3 identity providers" in str(error)


def test_display_name_prefers_organization_display_name() -> None:
    organization = (
        "<Organization><OrganizationName>contoso</OrganizationName>"
        '<OrganizationDisplayName xml:lang="de">Contoso GmbH</OrganizationDisplayName>'
        '<OrganizationDisplayName xml:lang="en">  Contoso\n Ltd </OrganizationDisplayName>'
        '<OrganizationURL xml:lang="en">https://contoso.example</OrganizationURL></Organization>'
    )
    meta = idp_metadata_parse(idp_entity(organization=organization), now=NOW)
    assert meta.display_name == "Contoso Ltd"


def test_processing_instructions_and_comments_are_ignored() -> None:
    document = '<?xml version="1.0"?><?xml-stylesheet href="x.xsl"?><!-- exported -->' + idp_entity()
    assert idp_metadata_parse(document, now=NOW).sso_redirect_url == "https://idp.example.com/sso/redirect"


def test_metadata_past_valid_until_is_refused() -> None:
    document = idp_entity().replace(
        'entityID="https://idp.example.com/saml"',
        'entityID="https://idp.example.com/saml" validUntil="2026-06-01T00:00:00Z"',
    )
    assert_refused("metadata_expired", lambda: idp_metadata_parse(document, now=NOW))


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        idp_metadata_parse(ADFS.read_bytes(), now=datetime(2027, 1, 1))


# --- pasted certificates ----------------------------------------------------------------------


def test_certificate_parse_pem() -> None:
    cert, _ = make_certificate(common_name="pem")
    info = certificate_parse(pem(cert))
    assert info.subject == "CN=pem" and info.issuer == "CN=pem"
    assert info.pem == pem(cert)
    assert info.sha256_fingerprint.replace(":", "") == cert.fingerprint(hashes.SHA256()).hex().upper()


def test_certificate_parse_entra_base64_download_with_crlf() -> None:
    cert, _ = make_certificate(common_name="entra")
    b64 = der_b64(cert)
    body = "\r\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    for text in (
        body,
        "\ufeff" + body + "\r\n",
        f"-----BEGIN CERTIFICATE-----\r\n{body}\r\n-----END CERTIFICATE-----\r\n",
        f"-----BEGIN CERTIFICATE-----\r\n{body}\r\n",  # END line lost in copy-paste
        f"{body}\r\n-----END CERTIFICATE-----",  # BEGIN line lost
        f"  {b64}  ",
    ):
        assert certificate_parse(text).subject == "CN=entra", repr(text[:30])
    assert certificate_parse(body.encode()).subject == "CN=entra"


def test_certificate_parse_raw_der_upload() -> None:
    cert, _ = make_certificate(common_name="der")
    assert certificate_parse(cert.public_bytes(serialization.Encoding.DER)).subject == "CN=der"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----",
        "TUlJQyBub3QgYSBjZXJ0",
        "MIIC!!!!",
        b"\x00\x01\x02\xff",
        "A" * 100_000,
    ],
)
def test_certificate_parse_refuses_garbage(text: str | bytes) -> None:
    error = assert_refused("bad_certificate", lambda: certificate_parse(text))
    assert str(error) == "The certificate is not a valid X.509 certificate."


def test_certificate_parse_recognises_a_pasted_private_key() -> None:
    _, key = make_certificate()
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    traditional = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    bare_der = base64.b64encode(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()
    for text in (pkcs8, traditional, bare_der):
        error = assert_refused("bad_certificate", lambda: certificate_parse(text))
        assert str(error) == (
            "This is a private key, not a certificate. Paste the IdP's public signing certificate."
        )


def test_certificate_parse_refuses_a_bundle_of_several_certificates() -> None:
    a, _ = make_certificate()
    b, _ = make_certificate()
    error = assert_refused("bad_certificate", lambda: certificate_parse(pem(a) + pem(b)))
    assert "more than one certificate" in str(error)


def test_certificate_check_current() -> None:
    expired, _ = make_certificate(
        not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2024, 1, 1, tzinfo=UTC)
    )
    error = assert_refused(
        "expired_certificate", lambda: certificate_check_current(certificate_parse(pem(expired)), now=NOW)
    )
    assert str(error) == "The certificate expired on 2024-01-01."

    future, _ = make_certificate(not_before=datetime(2027, 3, 1, tzinfo=UTC))
    error = assert_refused(
        "certificate_not_yet_valid",
        lambda: certificate_check_current(certificate_parse(pem(future)), now=NOW),
    )
    assert "2027-03-01" in str(error)

    certificate_check_current(certificate_parse(pem(make_certificate()[0])), now=NOW)


# --- fetching ---------------------------------------------------------------------------------


@dataclass
class MetadataServer:
    base: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[MetadataServer]:
    body = ADFS.read_bytes()
    state = MetadataServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, payload: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "Content-Length" not in (headers or {}) and payload is not None:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.hits.append(self.path)
            port = self.server.server_address[1]
            if self.path == "/metadata":
                self._send(200, body, {"Content-Type": "application/samlmetadata+xml"})
            elif self.path == "/missing":
                self._send(404, b"not here")
            elif self.path == "/slow":
                time.sleep(1.5)
                self._send(200, body)
            elif self.path == "/big":
                self._send(200, b"<x>" + b"a" * 5000 + b"</x>")
            elif self.path == "/big-undeclared":
                # No Content-Length: only counting the streamed bytes can stop this.
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                for _ in range(50):
                    self.wfile.write(b"a" * 1000)
            elif self.path == "/hop":
                self._send(302, headers={"Location": "/metadata"})
            elif self.path == "/loop":
                self._send(302, headers={"Location": "/loop"})
            elif self.path == "/to-private":
                self._send(302, headers={"Location": f"http://127.0.0.2:{port}/metadata"})
            elif self.path == "/to-metadata-service":
                self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
            else:
                self._send(500)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def loopback_counts_as_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the local test server stand in for a public host; every other private address stays refused."""
    real = metadata_module.is_forbidden_address
    monkeypatch.setattr(
        metadata_module, "is_forbidden_address", lambda address: address != "127.0.0.1" and real(address)
    )


def test_fetch_works_with_allow_private(server: MetadataServer) -> None:
    data = idp_metadata_fetch(f"{server.base}/metadata", allow_private=True)
    assert data == ADFS.read_bytes()
    assert idp_metadata_parse(data, now=NOW).entity_id == "http://sts.ait.dtu.dk/adfs/services/trust"


def test_fetch_refuses_loopback_by_default(server: MetadataServer) -> None:
    error = assert_refused("private_address", lambda: idp_metadata_fetch(f"{server.base}/metadata"))
    assert str(error) == "The metadata URL points to a private or loopback address."
    assert server.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/metadata",
        "http://10.0.0.5/metadata",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/metadata",
        "http://[::ffff:127.0.0.1]/metadata",
        "http://0.0.0.0/metadata",
        "http://2130706433/metadata",  # 127.0.0.1 as a decimal integer
    ],
)
def test_fetch_refuses_private_targets_without_connecting(url: str) -> None:
    assert_refused("private_address", lambda: idp_metadata_fetch(url, timeout=2))


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("2002:7f00:1::", True),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 wrapping 169.254.169.254
        ("not an address", True),
    ],
)
def test_address_classification(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden


@pytest.mark.parametrize(
    "url",
    ["ftp://idp.example.com/metadata", "file:///etc/passwd", "http://", "javascript:alert(1)", "idp.example.com"],
)
def test_fetch_refuses_urls_that_are_not_http(url: str) -> None:
    assert_refused("bad_url", lambda: idp_metadata_fetch(url, allow_private=True))


def test_fetch_reports_http_status(server: MetadataServer) -> None:
    error = assert_refused(
        "fetch_failed", lambda: idp_metadata_fetch(f"{server.base}/missing", allow_private=True)
    )
    assert str(error) == "The metadata URL answered HTTP 404."


def test_fetch_times_out(server: MetadataServer) -> None:
    started = time.monotonic()
    error = assert_refused(
        "fetch_timeout", lambda: idp_metadata_fetch(f"{server.base}/slow", allow_private=True, timeout=0.5)
    )
    assert str(error) == "The metadata URL did not answer within 0.5 seconds."
    assert time.monotonic() - started < 1.4


def test_fetch_reports_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = assert_refused(
        "fetch_failed", lambda: idp_metadata_fetch(f"http://127.0.0.1:{port}/", allow_private=True, timeout=2)
    )
    assert "refused" in str(error)


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_fetch_caps_the_size(server: MetadataServer, path: str) -> None:
    assert_refused(
        "too_large", lambda: idp_metadata_fetch(f"{server.base}{path}", allow_private=True, max_bytes=1000)
    )


def test_fetch_follows_a_redirect(server: MetadataServer) -> None:
    assert idp_metadata_fetch(f"{server.base}/hop", allow_private=True) == ADFS.read_bytes()
    assert server.hits == ["/hop", "/metadata"]


def test_fetch_stops_after_three_redirects(server: MetadataServer) -> None:
    error = assert_refused("fetch_failed", lambda: idp_metadata_fetch(f"{server.base}/loop", allow_private=True))
    assert "more than 3" in str(error)
    assert len(server.hits) == 4


@pytest.mark.usefixtures("loopback_counts_as_public")
def test_fetch_from_a_public_host_works_through_the_guard(server: MetadataServer) -> None:
    assert idp_metadata_fetch(f"{server.base}/hop") == ADFS.read_bytes()


@pytest.mark.usefixtures("loopback_counts_as_public")
@pytest.mark.parametrize("path", ["/to-private", "/to-metadata-service"])
def test_fetch_refuses_a_redirect_to_a_private_address(server: MetadataServer, path: str) -> None:
    assert_refused("private_address", lambda: idp_metadata_fetch(f"{server.base}{path}", timeout=2))
    assert server.hits == [path]


def test_fetch_checks_the_connected_peer_against_dns_rebinding(
    server: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pre-flight lookup answers with a public address; the connection then
    # lands on loopback, as a rebinding DNS server would arrange.
    monkeypatch.setattr(metadata_module, "_resolve_host", lambda host, port: ["93.184.215.14"])
    assert_refused("private_address", lambda: idp_metadata_fetch(f"{server.base}/metadata", timeout=2))
    assert server.hits == []
