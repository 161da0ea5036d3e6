"""Typed shapes shared across the SSO integration."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# --- SAML response verification (sso/saml_guard.py) ---


class RejectCode(StrEnum):
    """Why `verify_saml_response` refused a SAMLResponse; stable values for logs and error pages."""

    too_large = "too_large"
    malformed = "malformed"
    doctype = "doctype"
    status = "status"
    encrypted_assertion = "encrypted_assertion"
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

