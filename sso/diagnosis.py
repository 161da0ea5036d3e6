"""What a refused sign-in means to the person in front of the browser.

Admins get the precise detail (SignInAttempt.message, test sign-in page); end users get what
happened and what to do, plus the reference code support staff can look up.
"""
from __future__ import annotations

import base64
import binascii

CONTACT = "Contact your organisation's administrator and quote the reference below."
RETRY = "Start again from the sign-in page. If it happens again, contact your administrator with the reference below."

_MESSAGES: dict[str, tuple[str, str]] = {
    "expired": ("Your sign-in took too long or the clocks disagree", RETRY),
    "not_yet_valid": ("Your sign-in arrived early: the clocks disagree", RETRY),
    "replay": ("This sign-in was already used", "Each sign-in works once. Start again from the sign-in page."),
    "unknown_request": ("This sign-in wasn't started here", RETRY),
    "idp_initiated_disabled": ("Please sign in from Portico",
                               "Your organisation signs in from Portico's sign-in page rather than from the app tile. "
                               "Start from the sign-in page."),
    "email_domain": ("Your email address can't sign in here",
                     "Your address isn't one of this organisation's email domains. " + CONTACT),
    "attribute_missing": ("Your identity provider didn't send an email address", CONTACT),
    "status": ("Your identity provider didn't complete the sign-in", RETRY),
    "too_large": ("The sign-in response was too large", CONTACT),
}
_DEFAULT = ("We couldn't sign you in", "The sign-in response couldn't be verified. " + CONTACT)


def user_message(code: str) -> tuple[str, str]:
    """(title, advice) for an end user; security-relevant codes stay deliberately vague."""
    return _MESSAGES.get(code, _DEFAULT)


def decoded_for_display(saml_response: str, *, max_bytes: int) -> str:
    """The posted response as text for support staff's diagnostics; untrusted, never parsed from here."""
    try:
        raw = base64.b64decode(saml_response[: max_bytes * 4 // 3 + 4], validate=False)
    except (binascii.Error, ValueError):
        return ""
    return raw[:max_bytes].decode("utf-8", errors="replace")


_HEADLINES: dict[str, str] = {
    "ok": "Signed in",
    "signature_invalid": "The signature doesn't match the content",
    "certificate_mismatch": "Signed with a certificate Portico doesn't trust for you",
    "unsigned": "The response isn't signed",
    "unsupported_algorithm": "The IdP signs with an algorithm Portico refuses",
    "expired": "The response is too old, or the clocks disagree",
    "not_yet_valid": "The response isn't valid yet: the clocks disagree",
    "audience_mismatch": "The Identifier (Entity ID) doesn't match",
    "destination_mismatch": "The Reply URL doesn't match",
    "recipient_mismatch": "The Reply URL doesn't match",
    "issuer_mismatch": "The response comes from a different identity provider",
    "idp_initiated_disabled": "IdP-initiated sign-in is turned off",
    "email_domain": "The email domain isn't one of yours",
    "attribute_missing": "The IdP didn't send an email address",
    "unknown_request": "Not an answer to a sign-in started here",
    "replay": "This response was already used",
    "status": "The identity provider reported an error",
    "encrypted_assertion": "Token encryption is turned on in the IdP",
    "too_large": "The response is too large",
}


def admin_headline(code: str) -> str:
    """A short plain-words title for a sign-in outcome, above the detailed message admins see."""
    return _HEADLINES.get(code, "The response is malformed or has been tampered with")
