"""Typed shapes shared across the SSO integration."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict

from django.contrib.sessions.backends.base import SessionBase

from tenants.types import TenantRequest

# --- SAML response verification (sso/saml_guard.py) ---


class RejectCode(StrEnum):
    """Why a sign-in was refused: by the verifier (sso.saml_guard) or by the ACS policy (sso.acs).

    One vocabulary for SignInAttempt.code, the error pages and the test sign-in diagnosis; every
    table in sso.diagnosis is keyed by it and checked complete by a test.
    """

    # --- sso.saml_guard: the response itself ---
    too_large = "too_large"
    malformed = "malformed"
    doctype = "doctype"
    status = "status"
    encrypted_assertion = "encrypted_assertion"  # EncryptedID / EncryptedAttribute: parts Portico does not decrypt
    encryption_required = "encryption_required"  # a plain assertion where the tenant requires encrypted ones
    decryption_failed = "decryption_failed"  # not to this tenant's SP keys, altered ciphertext, garbage plaintext
    key_transport_rsa_1_5 = "key_transport_rsa_1_5"  # RSA PKCS#1 v1.5 key transport, refused before trying
    encryption_algorithm = "encryption_algorithm"  # any other encryption algorithm Portico does not accept
    assertion_count = "assertion_count"
    duplicate_id = "duplicate_id"
    unsigned = "unsigned"
    signature_invalid = "signature_invalid"
    certificate_mismatch = "certificate_mismatch"
    unsupported_algorithm = "unsupported_algorithm"
    signature_wrapping = "signature_wrapping"
    issuer_mismatch = "issuer_mismatch"
    audience_mismatch = "audience_mismatch"
    destination_mismatch = "destination_mismatch"
    recipient_mismatch = "recipient_mismatch"
    not_yet_valid = "not_yet_valid"
    expired = "expired"
    in_response_to_mismatch = "in_response_to_mismatch"
    comment_injection = "comment_injection"
    missing_subject = "missing_subject"
    lifetime_too_long = "lifetime_too_long"  # valid for implausibly long (beyond the configured cap)
    # --- sso.acs: Portico's policy for this tenant and this browser ---
    unknown_request = "unknown_request"
    request_expired = "request_expired"  # answers a request of this browser older than the TTL
    idp_initiated_disabled = "idp_initiated_disabled"
    replay = "replay"
    email_domain = "email_domain"
    email_domain_unverified = "email_domain_unverified"  # the tenant's claim of the domain isn't verified yet
    attribute_missing = "attribute_missing"
    email_invalid = "email_invalid"  # not an address Portico can identify a person by (tenants.addresses)
    member_suspended = "member_suspended"  # suspended by the tenant's directory (SCIM active: false)
    member_deprovisioned = "member_deprovisioned"  # removed by the tenant's directory (SCIM DELETE)
    identity_mismatch = "identity_mismatch"  # the address's account is bound to another immutable ID
    not_authorized = "not_authorized"  # the account exists but may not sign in (deactivated)
    # --- sso.slo: single logout ---
    logout_unknown_request = "logout_unknown_request"  # a LogoutResponse to no logout this browser started


class ConfigErrorCode(StrEnum):
    """Why an IdP configuration (metadata, certificate, URL, email domains) was refused.

    A separate domain from RejectCode: these are shown to the admin configuring SSO, never logged
    as sign-in attempts.
    """

    invalid = "invalid"
    # idp_metadata_parse
    too_large = "too_large"
    bad_encoding = "bad_encoding"
    doctype = "doctype"
    not_xml = "not_xml"
    not_metadata = "not_metadata"
    no_idp_role = "no_idp_role"
    multiple_idps = "multiple_idps"
    metadata_expired = "metadata_expired"
    no_sso_url = "no_sso_url"
    bad_endpoint = "bad_endpoint"
    no_signing_certificate = "no_signing_certificate"
    all_certificates_expired = "all_certificates_expired"
    # certificate_parse / certificate_check_current
    bad_certificate = "bad_certificate"
    expired_certificate = "expired_certificate"
    certificate_not_yet_valid = "certificate_not_yet_valid"
    # idp_metadata_fetch
    bad_url = "bad_url"
    private_address = "private_address"
    fetch_timeout = "fetch_timeout"
    fetch_failed = "fetch_failed"
    # sso.services configuration
    no_entity_id = "no_entity_id"
    email_domain = "email_domain"


@dataclass(frozen=True)
class ResponseSeen:
    """What a refused SAMLResponse claimed, UNVERIFIED: for the attempt log and diagnostics only."""

    issuer: str | None
    in_response_to: str | None
    xml: str


@dataclass(frozen=True)
class VerifiedResponse:
    """What a SAMLResponse proved, read only from the element its verified signature covers."""

    response_id: str
    assertion_id: str
    issuer: str
    # From the signed SubjectConfirmationData when present, else from the Response.
    in_response_to: str | None
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]
    session_index: str | None
    # Earliest of Conditions and SubjectConfirmationData NotOnOrAfter: how long to
    # remember assertion_id in the replay cache.
    not_on_or_after: datetime
    # {"response"}, {"assertion"} or both.
    signed_parts: frozenset[str]
    # The decoded document, for support diagnostics only; never re-read identity from it.
    xml: str
    # Whether the assertion arrived as an EncryptedAssertion (decrypted with the tenant's SP key).
    encrypted: bool = False


@dataclass(frozen=True)
class SamlSubject:
    """Whom the IdP signed in, kept in the Django session at sign-in: what Portico's LogoutRequest names."""

    issuer: str
    name_id: str
    name_id_format: str | None
    session_index: str | None

    def as_session(self) -> dict[str, str | None]:
        return {"issuer": self.issuer, "name_id": self.name_id, "name_id_format": self.name_id_format,
                "session_index": self.session_index}

    @classmethod
    def from_session(cls, value: object) -> SamlSubject | None:
        if not isinstance(value, dict) or not value.get("name_id") or not value.get("issuer"):
            return None
        return cls(issuer=str(value["issuer"]), name_id=str(value["name_id"]),
                   name_id_format=value.get("name_id_format"), session_index=value.get("session_index"))


@dataclass(frozen=True)
class LogoutMessage:
    """A LogoutRequest or LogoutResponse (sso.slo_guard), read from what its verified signature covers.

    `signed` is False only for a LogoutResponse that carried no signature (allowed: Portico already
    ended its own session; the answer only says whether the IdP ended its one too).
    """

    kind: str  # "request" | "response"
    message_id: str
    issuer: str
    destination: str | None
    issue_instant: datetime
    signed: bool
    relay_state: str | None
    xml: str
    # LogoutRequest
    name_id: str = ""
    name_id_format: str | None = None
    session_indexes: tuple[str, ...] = ()
    not_on_or_after: datetime | None = None
    # LogoutResponse
    in_response_to: str | None = None
    status: str | None = None


# --- IdP metadata and certificates (sso/metadata.py) ---


@dataclass(frozen=True)
class CertificateInfo:
    """An IdP signing certificate, parsed once so callers never touch DER again."""

    pem: str
    sha256_fingerprint: str  # "AB:CD:..." upper hex, what admins compare against the IdP's UI
    subject: str
    issuer: str
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC
    # Entra's SAML Certificates pane shows only this ("Thumbprint"); shown beside the SHA-256 one.
    sha1_thumbprint: str = ""

    def is_expired(self, now: datetime) -> bool:
        return now > self.not_after

    def is_not_yet_valid(self, now: datetime) -> bool:
        return now < self.not_before

    def expires_within(self, now: datetime, delta: timedelta) -> bool:
        """True if the certificate has expired or will within `delta` (for rotation warnings)."""
        return self.not_after <= now + delta


@dataclass(frozen=True)
class IdpMetadata:
    """What Portico keeps from an IdP's SAML metadata document."""

    entity_id: str
    sso_redirect_url: str | None
    sso_post_url: str | None
    slo_url: str | None
    # Current or future certificates only; several are valid at once during rotation.
    signing_certificates: tuple[CertificateInfo, ...]
    display_name: str | None
    xml: str  # the original document as text (a leading byte-order mark removed), unchanged



# --- requests through the SSO views ---


class SamlRequest(TenantRequest):
    """A tenant request past djangosaml2's SamlSessionMiddleware, which sets `saml_session`."""

    saml_session: SessionBase


class IdpOptions(TypedDict):
    """The options a tenant admin (or support) sets on an IdP: sso.services.idp_options_update's keywords."""

    display_name: str
    allow_idp_initiated: bool
    restrict_email_domains: bool
    require_encrypted_assertions: bool
    sign_authn_requests: bool
    attribute_mapping: dict[str, list[str]]
    group_access_levels: dict[str, str]


# --- Staged connections (sso.services) ---


class ConnectionWarningCode(StrEnum):
    """What may be a mistake in a connection about to be saved (sso.services.connection_warnings)."""

    placeholder_entity_id = "placeholder_entity_id"  # Entra's multi-tenant {tenantid}
    multi_tenant_document = "multi_tenant_document"  # Entra's "common" endpoint: not one directory
    plain_http = "plain_http"  # the SSO URL is not https
    certificate_expiring = "certificate_expiring"  # within PORTICO_CERT_EXPIRY_WARNING_DAYS


@dataclass(frozen=True)
class ConnectionWarning:
    code: ConnectionWarningCode
    text: str
    # A likely mistake: saving needs an explicit "save anyway". Otherwise shown, not blocking.
    needs_confirm: bool

    def as_dict(self) -> dict[str, object]:
        return {"code": str(self.code), "text": self.text, "confirm": self.needs_confirm}
