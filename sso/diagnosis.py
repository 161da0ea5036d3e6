"""What a refused sign-in means to the person in front of the browser.

Admins get the precise detail (SignInAttempt.message, test sign-in page); end users get what
happened and what to do, plus the reference code support staff can look up.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from http import HTTPStatus

from sso.types import RejectCode

CONTACT = "Contact your organisation's administrator and quote the reference below."
RETRY = "Start again from the sign-in page. If it happens again, contact your administrator with the reference below."

# What the person at the browser reads. Codes that would help an attacker probe the verifier
# (signature, wrapping, certificates...) all get the same deliberately vague text.
_VAGUE = ("We couldn't sign you in", "The sign-in response couldn't be verified. " + CONTACT)
_CLOCKS = ("Your sign-in took too long or the clocks disagree", RETRY)

_MESSAGES: dict[RejectCode, tuple[str, str]] = {
    RejectCode.too_large: ("The sign-in response was too large", CONTACT),
    RejectCode.malformed: _VAGUE,
    RejectCode.doctype: _VAGUE,
    RejectCode.status: ("Your identity provider didn't complete the sign-in", RETRY),
    RejectCode.encrypted_assertion: _VAGUE,
    RejectCode.encryption_required: _VAGUE,
    RejectCode.decryption_failed: _VAGUE,
    RejectCode.key_transport_rsa_1_5: _VAGUE,
    RejectCode.encryption_algorithm: _VAGUE,
    RejectCode.assertion_count: _VAGUE,
    RejectCode.duplicate_id: _VAGUE,
    RejectCode.unsigned: _VAGUE,
    RejectCode.signature_invalid: _VAGUE,
    RejectCode.certificate_mismatch: _VAGUE,
    RejectCode.unsupported_algorithm: _VAGUE,
    RejectCode.signature_wrapping: _VAGUE,
    RejectCode.issuer_mismatch: _VAGUE,
    RejectCode.audience_mismatch: _VAGUE,
    RejectCode.destination_mismatch: _VAGUE,
    RejectCode.recipient_mismatch: _VAGUE,
    RejectCode.not_yet_valid: ("Your sign-in arrived early: the clocks disagree", RETRY),
    RejectCode.expired: _CLOCKS,
    RejectCode.in_response_to_mismatch: _VAGUE,
    RejectCode.comment_injection: _VAGUE,
    RejectCode.missing_subject: _VAGUE,
    RejectCode.lifetime_too_long: _VAGUE,
    RejectCode.unknown_request: ("This sign-in wasn't started here", RETRY),
    RejectCode.request_expired: ("Your sign-in took too long", RETRY),
    RejectCode.idp_initiated_disabled: (
        "Please sign in from Portico",
        "Your organisation signs in from Portico's sign-in page rather than from the app tile. "
        "Start from the sign-in page."),
    RejectCode.replay: ("This sign-in was already used", "Each sign-in works once. Start again from the sign-in page."),
    RejectCode.email_domain: ("Your email address can't sign in here",
                              "Your address isn't one of this organisation's email domains. " + CONTACT),
    RejectCode.email_domain_unverified: ("Your email domain isn't verified yet",
                                         "Your organisation hasn't finished verifying its email domain with Portico. "
                                         + CONTACT),
    RejectCode.attribute_missing: ("Your identity provider didn't send an email address", CONTACT),
    RejectCode.email_invalid: ("Your email address can't be used to sign in", CONTACT),
    RejectCode.member_suspended: ("Your access to Portico is suspended", CONTACT),
    RejectCode.member_deprovisioned: ("Your access to Portico was removed", CONTACT),
    RejectCode.identity_mismatch: _VAGUE,
    RejectCode.not_authorized: _VAGUE,
    RejectCode.logout_unknown_request: ("This sign-out wasn't started here", RETRY),
}

_MALFORMED = "The response is malformed or has been tampered with"
_HEADLINES: dict[RejectCode, str] = {
    RejectCode.too_large: "The response is too large",
    RejectCode.malformed: _MALFORMED,
    RejectCode.doctype: _MALFORMED,
    RejectCode.status: "The identity provider reported an error",
    RejectCode.encrypted_assertion: "The IdP encrypted parts of the assertion Portico doesn't decrypt",
    RejectCode.encryption_required: "The assertion wasn't encrypted, and you require encryption",
    RejectCode.decryption_failed: "The encrypted assertion couldn't be decrypted with Portico's key",
    RejectCode.key_transport_rsa_1_5: "The IdP encrypts with RSA-1_5, which Portico refuses",
    RejectCode.encryption_algorithm: "The IdP encrypts with an algorithm Portico refuses",
    RejectCode.assertion_count: _MALFORMED,
    RejectCode.duplicate_id: _MALFORMED,
    RejectCode.unsigned: "The response isn't signed",
    RejectCode.signature_invalid: "The signature doesn't match the content",
    RejectCode.certificate_mismatch: "Signed with a certificate Portico doesn't trust for you",
    RejectCode.unsupported_algorithm: "The IdP signs with an algorithm Portico refuses",
    RejectCode.signature_wrapping: _MALFORMED,
    RejectCode.issuer_mismatch: "The response comes from a different identity provider",
    RejectCode.audience_mismatch: "The Identifier (Entity ID) doesn't match",
    RejectCode.destination_mismatch: "The Reply URL doesn't match",
    RejectCode.recipient_mismatch: "The Reply URL doesn't match",
    RejectCode.not_yet_valid: "The response isn't valid yet: the clocks disagree",
    RejectCode.expired: "The response is too old, or the clocks disagree",
    RejectCode.in_response_to_mismatch: _MALFORMED,
    RejectCode.comment_injection: _MALFORMED,
    RejectCode.missing_subject: _MALFORMED,
    RejectCode.lifetime_too_long: "The assertion claims to stay valid for implausibly long",
    RejectCode.unknown_request: "Not an answer to a sign-in started here",
    RejectCode.request_expired: "The sign-in request had expired",
    RejectCode.idp_initiated_disabled: "IdP-initiated sign-in is turned off",
    RejectCode.replay: "This response was already used",
    RejectCode.email_domain: "The email domain isn't one of yours",
    RejectCode.email_domain_unverified: "The email domain is waiting for verification",
    RejectCode.attribute_missing: "The IdP didn't send an email address",
    RejectCode.email_invalid: "The email address the IdP sent can't identify a person",
    RejectCode.member_suspended: "The person is suspended by directory sync (SCIM)",
    RejectCode.member_deprovisioned: "The person was removed by directory sync (SCIM)",
    RejectCode.identity_mismatch: "The account is bound to another identity at the IdP",
    RejectCode.not_authorized: "The account is deactivated in Portico",
    RejectCode.logout_unknown_request: "Not an answer to a sign-out started here",
}

_STATUS: dict[RejectCode, HTTPStatus] = {
    code: HTTPStatus.REQUEST_ENTITY_TOO_LARGE if code is RejectCode.too_large else HTTPStatus.FORBIDDEN
    for code in RejectCode
}

# Every table above must name every code: a gap would silently fall back to a wrong text.
TABLES: dict[str, Mapping[RejectCode, object]] = {
    "user_message": _MESSAGES, "admin_headline": _HEADLINES, "http_status": _STATUS,
}

SUCCESS_CODE = "ok"  # SignInAttempt.code of a sign-in that went through


def logout_user_message(code: RejectCode) -> tuple[str, str]:
    """(title, advice) when a single-logout message was refused: one text for every code (no probing);
    the reference leads support staff to the precise reason in the audit log."""
    if code is RejectCode.replay:
        return ("This sign-out message was already used", "Nothing was changed. " + CONTACT)
    return ("We couldn't accept this sign-out message",
            "It didn't come verifiably from your organisation's identity provider, so nothing was changed. "
            + CONTACT)


def user_message(code: RejectCode) -> tuple[str, str]:
    """(title, advice) for an end user; security-relevant codes stay deliberately vague."""
    return _MESSAGES[code]


def http_status(code: RejectCode) -> int:
    """The status of the error page for a refusal."""
    return int(_STATUS[code])


def admin_headline(code: str) -> str:
    """A short plain-words title for a recorded outcome (SignInAttempt.code), above the detail admins see."""
    if code == SUCCESS_CODE:
        return "Signed in"
    try:
        return _HEADLINES[RejectCode(code)]
    except ValueError:  # a row recorded under a code no longer issued
        return _MALFORMED


def decoded_for_display(saml_response: str, *, max_bytes: int) -> str:
    """The posted response as text for support staff's diagnostics; untrusted, never parsed from here."""
    try:
        raw = base64.b64decode(saml_response[: max_bytes * 4 // 3 + 4], validate=False)
    except (binascii.Error, ValueError):
        return ""
    return raw[:max_bytes].decode("utf-8", errors="replace")
