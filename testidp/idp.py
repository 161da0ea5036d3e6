"""A SAML 2.0 identity provider for tests and local development that answers like Entra ID.

It trusts whatever ACS URL a request names and signs whatever it is asked to:
never expose it beyond a developer machine or a test run.

Responses are built with lxml and signed with signxml rather than with
`saml2.server.Server`: Server stamps every assertion with the current time,
filters attributes through SP metadata and attribute converters, and signs with
the one key in its config, while this IdP needs expired/not-yet-valid
responses, Entra's claim URIs verbatim (no NameFormat) and attacker keys.
"""
from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from urllib.parse import unquote_plus, urlsplit
from uuid import NAMESPACE_URL, uuid4, uuid5

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from sso.xmlsafe import dtd_declaration, hardened_parser, has_dtd
from testidp import claims, logout
from testidp.encryption import Encryption, encrypt_assertion, sp_encryption_certificate
from testidp.errors import InvalidAuthnRequest, InvalidInput
from testidp.keys import KeyPair, generate_keypair
from testidp.signing import DS_NS, SAML_NS, sign_enveloped

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
NAMEID_FORMAT_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AC_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SIG_ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

# Entra backdates NotBefore by five minutes to absorb clock skew at the SP.
NOT_BEFORE_SKEW = timedelta(minutes=5)
DEFAULT_LIFETIME = timedelta(minutes=5)

# An AuthnRequest is a few hundred bytes; anything near these caps is hostile.
MAX_SAML_REQUEST_CHARS = 32 * 1024
MAX_REQUEST_XML_BYTES = 64 * 1024
MAX_RELAY_STATE_CHARS = 4096
MAX_URL_CHARS = 2048


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""Default marker for arguments where None means "leave the element out"."""


@dataclass(frozen=True)
class AuthnRequestInfo:
    id: str
    issuer: str
    acs_url: str
    destination: str | None
    relay_state: str | None


def check_http_url(value: str, what: str) -> str:
    """Accept only absolute http(s) URLs: the value ends up in a form action."""
    parts = urlsplit(value)
    if len(value) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"{what} must be an absolute http(s) URL")
    return value


class TestIdP:
    __test__ = False  # not a pytest test class despite the name

    def __init__(self, base_url: str, keypair: KeyPair | None = None, entity_id: str | None = None,
                 logout_issuer: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.keypair = keypair or generate_keypair()
        self.entity_id = entity_id or f"{self.base_url}/idp/metadata"
        self.metadata_url = f"{self.base_url}/idp/metadata"
        self.sso_url = f"{self.base_url}/idp/sso"
        self.slo_url = f"{self.base_url}/idp/slo"
        self.initiate_url = f"{self.base_url}/idp/initiate"
        # Entra sends its directory's tenant id in every response; derive a stable one.
        self.tenant_id = str(uuid5(NAMESPACE_URL, self.entity_id))
        # Entra's "Require verification certificates": when set (a PEM), every HTTP-Redirect AuthnRequest
        # must carry a valid RSA-SHA256 signature by it (SAML bindings §3.4.4.1).
        self.sp_verification_certificate: str | None = None
        # Entra's token encryption: when set, the sign-in form's responses carry an EncryptedAssertion.
        self.encrypt_to: Encryption | None = None
        # The Issuer of logout messages: the entity ID, except for Entra (see `like_entra`).
        self.logout_issuer = logout_issuer or self.entity_id
        # SP entity ID -> (its signing certificate, its SingleLogoutService URL): what an IdP admin
        # configures (Entra reads it from the SP's metadata).
        self.service_providers: dict[str, tuple[str | None, str]] = {}

    @classmethod
    def like_entra(cls, base_url: str, keypair: KeyPair | None = None) -> TestIdP:
        """Entra's Issuers: https://sts.windows.net/{tenant id}/ signs people in, and
        https://login.microsoftonline.com/{tenant id}/ issues logout messages."""
        tenant_id = str(uuid5(NAMESPACE_URL, base_url))
        idp = cls(base_url, keypair, entity_id=f"https://sts.windows.net/{tenant_id}/",
                  logout_issuer=f"https://login.microsoftonline.com/{tenant_id}/")
        idp.tenant_id = tenant_id
        return idp

    def __repr__(self) -> str:
        return f"TestIdP(entity_id={self.entity_id!r})"

    # --- metadata ---

    def metadata_xml(self) -> str:
        # A stable ID keeps the document byte-identical across restarts with the same key.
        doc_id = "_" + str(uuid5(NAMESPACE_URL, f"{self.entity_id}|{self.keypair.cert_base64}"))
        md = etree.Element(
            f"{{{MD_NS}}}EntityDescriptor", {"ID": doc_id, "entityID": self.entity_id}, nsmap={None: MD_NS}
        )
        idp = etree.SubElement(
            md, f"{{{MD_NS}}}IDPSSODescriptor", {"protocolSupportEnumeration": "urn:oasis:names:tc:SAML:2.0:protocol"}
        )
        key_descriptor = etree.SubElement(idp, f"{{{MD_NS}}}KeyDescriptor", {"use": "signing"})
        key_info = etree.SubElement(key_descriptor, f"{{{DS_NS}}}KeyInfo", nsmap={None: DS_NS})
        x509_data = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
        etree.SubElement(x509_data, f"{{{DS_NS}}}X509Certificate").text = self.keypair.cert_base64
        # Schema order: SingleLogoutService before NameIDFormat. Entra publishes HTTP-Redirect only.
        etree.SubElement(idp, f"{{{MD_NS}}}SingleLogoutService",
                         {"Binding": BINDING_HTTP_REDIRECT, "Location": self.slo_url})
        etree.SubElement(idp, f"{{{MD_NS}}}NameIDFormat").text = NAMEID_FORMAT_EMAIL
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
            etree.SubElement(idp, f"{{{MD_NS}}}SingleSignOnService", {"Binding": binding, "Location": self.sso_url})
        return etree.tostring(md, encoding="unicode")

    # --- single logout ---

    def register_sp(self, *, entity_id: str, certificate_pem: str | None, slo_url: str) -> None:
        self.service_providers[entity_id] = (certificate_pem, slo_url)

    def logout_request(
        self, *, sp_slo_url: str, name_id: str, binding: str = BINDING_HTTP_REDIRECT, session_index: str | None = None,
        relay_state: str | None = None, sign: bool = True, signing_keypair: KeyPair | None = None,
        issuer: str | _Unset = UNSET, destination: str | None | _Unset = UNSET, issue_instant: datetime | None = None,
        doctype: bool = False,
    ) -> tuple[str, str]:
        """An IdP-initiated LogoutRequest: (the Redirect URL, or the POST binding's base64 value; its ID)."""
        request_id = _new_id()
        xml = logout.logout_request_xml(
            issuer=self.logout_issuer if issuer is UNSET else issuer,
            destination=sp_slo_url if destination is UNSET else destination, name_id=name_id,
            request_id=request_id, session_index=session_index, issue_instant=issue_instant, doctype=doctype)
        keypair = (signing_keypair or self.keypair) if sign else None
        if binding == BINDING_HTTP_POST:
            return logout.post_value(xml, keypair=keypair), request_id
        return logout.redirect_url(location=sp_slo_url, param="SAMLRequest", xml=xml, relay_state=relay_state,
                                   keypair=keypair), request_id

    def logout_response(
        self, *, sp_slo_url: str, in_response_to: str, binding: str = BINDING_HTTP_REDIRECT,
        status: str = STATUS_SUCCESS, sign: bool = True, signing_keypair: KeyPair | None = None,
        issuer: str | _Unset = UNSET, relay_state: str | None = None,
    ) -> str:
        """A LogoutResponse to the SP (the Redirect URL, or the POST binding's base64 value)."""
        xml = logout.logout_response_xml(issuer=self.logout_issuer if issuer is UNSET else issuer,
                                         destination=sp_slo_url, in_response_to=in_response_to,
                                         response_id=_new_id(), status=status)
        keypair = (signing_keypair or self.keypair) if sign else None
        if binding == BINDING_HTTP_POST:
            return logout.post_value(xml, keypair=keypair)
        return logout.redirect_url(location=sp_slo_url, param="SAMLResponse", xml=xml, relay_state=relay_state,
                                   keypair=keypair)

    def answer_logout_request(self, raw_query: str) -> str:
        """Verify an SP's signed LogoutRequest (Redirect binding, raw query string) against the certificate
        registered for it, and answer with a signed LogoutResponse to its SingleLogoutService."""
        issuer = logout.peek_issuer(raw_query)
        if issuer in self.service_providers:
            certificate_pem, sp_slo_url = self.service_providers[issuer]
            certificates: tuple[str | None, ...] = (certificate_pem,)
        else:
            # Not registered (the demo): read the SP's metadata at its entity ID, as an IdP admin's
            # "upload metadata file" would give it the certificates and the logout URL.
            certificates, sp_slo_url = logout.sp_metadata_fetch(issuer)
        request = logout.verify_redirect_request_any(raw_query, sp_certificate_pems=certificates)
        if request.destination != self.slo_url:
            raise InvalidInput("the LogoutRequest's Destination is not this IdP's logout URL")
        return self.logout_response(sp_slo_url=sp_slo_url, in_response_to=request.id,
                                    relay_state=request.relay_state)

    # --- responses ---

    def build_response(
        self,
        *,
        acs_url: str,
        audience: str,
        email: str,
        in_response_to: str | None = None,
        first_name: str = "Test",
        last_name: str = "User",
        attributes: dict[str, list[str]] | None = None,
        name_id: str | None = None,
        destination: str | None | _Unset = UNSET,
        recipient: str | None | _Unset = UNSET,
        issuer: str | None | _Unset = UNSET,
        sign_assertion: bool = True,
        sign_response: bool = False,
        signing_keypair: KeyPair | None = None,
        issue_instant: datetime | None = None,
        lifetime: timedelta = DEFAULT_LIFETIME,
        status_code: str = STATUS_SUCCESS,
        groups: list[str] | None = None,
        encrypt: Encryption | None = None,
    ) -> str:
        """A samlp:Response shaped like Entra's, as an XML string.

        With `encrypt`, the (signed) assertion is encrypted to the SP certificate it names and sent
        as an EncryptedAssertion, which a response signature then covers (Entra's token encryption).

        destination/recipient default to `acs_url` and issuer to `entity_id`;
        passing None leaves the attribute (or both Issuer elements) out.
        `attributes` overrides or adds claims; an empty list removes a claim.
        A non-Success `status_code` yields a Response without an Assertion.
        """
        now = issue_instant or datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise ValueError("issue_instant must be timezone-aware")
        issuer_value = self.entity_id if issuer is UNSET else issuer
        destination_value = acs_url if destination is UNSET else destination
        recipient_value = acs_url if recipient is UNSET else recipient
        keypair = signing_keypair or self.keypair

        response = etree.Element(f"{{{SAMLP_NS}}}Response", nsmap={"samlp": SAMLP_NS})
        response.set("ID", _new_id())
        response.set("Version", "2.0")
        response.set("IssueInstant", _instant(now))
        if destination_value is not None:
            response.set("Destination", destination_value)
        if in_response_to is not None:
            response.set("InResponseTo", in_response_to)
        if issuer_value is not None:
            etree.SubElement(response, f"{{{SAML_NS}}}Issuer", nsmap={None: SAML_NS}).text = issuer_value
        status = etree.SubElement(response, f"{{{SAMLP_NS}}}Status")
        etree.SubElement(status, f"{{{SAMLP_NS}}}StatusCode", {"Value": status_code})

        if status_code == STATUS_SUCCESS:
            assertion = self._assertion(
                now=now,
                lifetime=lifetime,
                issuer=issuer_value,
                audience=audience,
                name_id=name_id or email,
                in_response_to=in_response_to,
                recipient=recipient_value,
                claims_=self._claims(email, first_name, last_name, groups, attributes),
            )
            response.append(assertion)
            if sign_assertion:
                response = sign_enveloped(response, assertion, keypair)
            if encrypt is not None:
                signed = response.find(f"{{{SAML_NS}}}Assertion")
                signed.addprevious(encrypt_assertion(signed, encrypt))
                response.remove(signed)
        if sign_response:
            # After the assertion: the response digest must cover the assertion's signature.
            response = sign_enveloped(response, response, keypair)
        return etree.tostring(response, encoding="unicode")

    def build_response_b64(self, **kwargs: object) -> str:
        """`build_response` encoded the way the HTTP-POST binding carries it."""
        xml = self.build_response(**kwargs)  # type: ignore[arg-type]
        return base64.b64encode(xml.encode("utf-8")).decode("ascii")

    def _claims(
        self,
        email: str,
        first_name: str,
        last_name: str,
        groups: list[str] | None,
        overrides: dict[str, list[str]] | None,
    ) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {
            claims.TENANT_ID: [self.tenant_id],
            # Stable per user so provisioning can key on it like on a real oid.
            claims.OBJECT_ID: [str(uuid5(NAMESPACE_URL, f"{self.entity_id}#{email.lower()}"))],
            claims.DISPLAY_NAME: [f"{first_name} {last_name}".strip()],
            claims.IDENTITY_PROVIDER: [self.entity_id],
            claims.AUTHN_METHODS: [claims.AUTHN_METHOD_PASSWORD],
            claims.GIVEN_NAME: [first_name],
            claims.SURNAME: [last_name],
            claims.EMAIL: [email],
            claims.NAME: [email],
        }
        if groups:
            values[claims.GROUPS] = list(groups)
        for name, override in (overrides or {}).items():
            values[name] = list(override)
        # Entra leaves out claims whose source attribute is empty.
        return {name: vals for name, vals in values.items() if any(vals)}

    def _assertion(
        self,
        *,
        now: datetime,
        lifetime: timedelta,
        issuer: str | None,
        audience: str,
        name_id: str,
        in_response_to: str | None,
        recipient: str | None,
        claims_: dict[str, list[str]],
    ) -> etree._Element:
        def sub(parent: etree._Element, tag: str, attrs: dict[str, str] | None = None) -> etree._Element:
            return etree.SubElement(parent, f"{{{SAML_NS}}}{tag}", attrs or {})

        assertion_id = _new_id()
        not_on_or_after = _instant(now + lifetime)
        assertion = etree.Element(f"{{{SAML_NS}}}Assertion", nsmap={None: SAML_NS})
        assertion.set("ID", assertion_id)
        assertion.set("IssueInstant", _instant(now))
        assertion.set("Version", "2.0")
        if issuer is not None:
            sub(assertion, "Issuer").text = issuer

        subject = sub(assertion, "Subject")
        sub(subject, "NameID", {"Format": NAMEID_FORMAT_EMAIL}).text = name_id
        confirmation = sub(subject, "SubjectConfirmation", {"Method": CM_BEARER})
        data = sub(confirmation, "SubjectConfirmationData")
        if in_response_to is not None:
            data.set("InResponseTo", in_response_to)
        data.set("NotOnOrAfter", not_on_or_after)
        if recipient is not None:
            data.set("Recipient", recipient)

        conditions = sub(
            assertion, "Conditions", {"NotBefore": _instant(now - NOT_BEFORE_SKEW), "NotOnOrAfter": not_on_or_after}
        )
        sub(sub(conditions, "AudienceRestriction"), "Audience").text = audience

        statement = sub(assertion, "AttributeStatement")
        for name, values in claims_.items():
            attribute = sub(statement, "Attribute", {"Name": name})
            for value in values:
                sub(attribute, "AttributeValue").text = value

        # Entra reuses the assertion ID as the session index.
        authn = sub(assertion, "AuthnStatement", {"AuthnInstant": _instant(now), "SessionIndex": assertion_id})
        sub(sub(authn, "AuthnContext"), "AuthnContextClassRef").text = AC_PASSWORD
        return assertion

    # --- requests ---

    def encrypt_for_sp(self, *, sp_metadata_xml: str | bytes | None = None, certificate_pem: str | None = None,
                       content: str = "aes256-cbc", transport: str = "rsa-oaep-mgf1p", digest: str = "sha1") -> None:
        """Turn token encryption on, to the SP's encryption certificate from its metadata or given directly."""
        if (sp_metadata_xml is None) == (certificate_pem is None):
            raise InvalidInput("give either the SP metadata or a certificate")
        certificate = certificate_pem or sp_encryption_certificate(sp_metadata_xml or b"")
        self.encrypt_to = Encryption(certificate_pem=certificate, content=content, transport=transport, digest=digest)

    def verify_redirect_signature(self, raw_query: str) -> None:
        """Check the signature of an HTTP-Redirect request over the raw query string, as sent, against
        `sp_verification_certificate`; InvalidAuthnRequest when it is missing or does not verify."""
        if self.sp_verification_certificate is None:
            return
        segments: dict[str, list[str]] = {}
        for segment in raw_query.split("&"):
            if segment:
                segments.setdefault(segment.split("=", 1)[0], []).append(segment)
        if any(len(segments.get(name, [])) > 1 for name in ("SAMLRequest", "RelayState", "SigAlg", "Signature")):
            raise InvalidAuthnRequest("a signed parameter is repeated")
        if "Signature" not in segments or "SigAlg" not in segments:
            raise InvalidAuthnRequest("the AuthnRequest is not signed, and this IdP requires signed requests")
        sig_alg = unquote_plus(segments["SigAlg"][0].split("=", 1)[1])
        if sig_alg != SIG_ALG_RSA_SHA256:
            raise InvalidAuthnRequest(f"unsupported SigAlg {sig_alg}")
        signed = "&".join(segments[name][0] for name in ("SAMLRequest", "RelayState", "SigAlg") if name in segments)
        try:
            signature = base64.b64decode(unquote_plus(segments["Signature"][0].split("=", 1)[1]), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidAuthnRequest("the Signature is not base64") from None
        text = self.sp_verification_certificate.strip()
        if "-----BEGIN" not in text:
            text = f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----"
        public_key = x509.load_pem_x509_certificate(text.encode("ascii")).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise InvalidAuthnRequest("the verification certificate is not RSA")
        try:
            public_key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise InvalidAuthnRequest("the AuthnRequest signature does not verify") from None

    def parse_authn_request(
        self, saml_request: str, relay_state: str | None, *, deflated: bool = True
    ) -> AuthnRequestInfo:
        """Decode an AuthnRequest from the HTTP-Redirect binding (base64 of raw DEFLATE).

        `deflated=False` takes the HTTP-POST binding's plain base64 instead.
        The signature of an HTTP-Redirect request is checked apart, over the raw query string
        (`verify_redirect_signature`); no SP metadata is consulted: the ACS URL the request names is trusted.
        """
        if relay_state is not None and len(relay_state) > MAX_RELAY_STATE_CHARS:
            raise InvalidAuthnRequest("RelayState is too long")
        if not saml_request:
            raise InvalidAuthnRequest("SAMLRequest is missing")
        if len(saml_request) > MAX_SAML_REQUEST_CHARS:
            raise InvalidAuthnRequest("SAMLRequest is too large")
        try:
            raw = base64.b64decode("".join(saml_request.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidAuthnRequest("SAMLRequest is not valid base64") from None
        xml = _inflate(raw) if deflated else raw
        if len(xml) > MAX_REQUEST_XML_BYTES:
            raise InvalidAuthnRequest("SAMLRequest is too large")
        root = _parse_untrusted_xml(xml)

        if root.tag != f"{{{SAMLP_NS}}}AuthnRequest":
            raise InvalidAuthnRequest("SAMLRequest is not an AuthnRequest")
        request_id = root.get("ID")
        if not request_id:
            raise InvalidAuthnRequest("AuthnRequest has no ID")
        issuer = root.findtext(f"{{{SAML_NS}}}Issuer")
        if not issuer or not issuer.strip():
            raise InvalidAuthnRequest("AuthnRequest has no Issuer")
        acs_url = root.get("AssertionConsumerServiceURL")
        if not acs_url:
            raise InvalidAuthnRequest(
                "AuthnRequest has no AssertionConsumerServiceURL (this test IdP has no SP metadata to look it up)"
            )
        try:
            check_http_url(acs_url, "AssertionConsumerServiceURL")
        except InvalidInput as exc:
            raise InvalidAuthnRequest(str(exc)) from None
        binding = root.get("ProtocolBinding")
        if binding is not None and binding != BINDING_HTTP_POST:
            raise InvalidAuthnRequest("only the HTTP-POST binding is supported for the response")
        return AuthnRequestInfo(
            id=request_id,
            issuer=issuer.strip(),
            acs_url=acs_url,
            destination=root.get("Destination"),
            relay_state=relay_state,
        )


def _new_id() -> str:
    # Entra's IDs: an underscore (an NCName may not start with a digit) and a GUID.
    return f"_{uuid4()}"


def _instant(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        # Bounded output: a few KB of DEFLATE can expand to gigabytes.
        xml = inflater.decompress(raw, MAX_REQUEST_XML_BYTES + 1)
    except zlib.error:
        raise InvalidAuthnRequest("SAMLRequest is not raw DEFLATE data") from None
    if inflater.unconsumed_tail or len(xml) > MAX_REQUEST_XML_BYTES:
        raise InvalidAuthnRequest("SAMLRequest is too large")
    return xml


def _parse_untrusted_xml(xml: bytes) -> etree._Element:
    # Portico's own hardened parsing (sso.xmlsafe, which needs only lxml): DTDs refused before
    # and after parsing, nothing resolved or fetched.
    if dtd_declaration(xml):
        raise InvalidAuthnRequest("DTDs are not allowed")
    try:
        root = etree.fromstring(xml, parser=hardened_parser(keep_comments=True))
    except (etree.XMLSyntaxError, ValueError):
        raise InvalidAuthnRequest("SAMLRequest is not well-formed XML") from None
    if has_dtd(root):
        raise InvalidAuthnRequest("DTDs are not allowed")
    return root
