"""The email typed on Portico's sign-in page, carried to the IdP and checked on the way back.

Entra reads `login_hint` from the query string of the HTTP-Redirect AuthnRequest URL and pre-fills
(or skips) its account picker. It is outside the SAML message, so it is advice to the IdP, never
trusted: who signed in is what the verified assertion says; the hint only lets Portico tell the
person plainly when the IdP signed in another account than the one they typed.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

# One address, no whitespace or control characters, at most the length an email column holds.
_EMAIL_RE = re.compile(r"^[^\s@<>\"']{1,64}@[^\s@<>\"'/\\?#]{1,253}$")


def login_hint_clean(value: str | None) -> str | None:
    """The typed address, lower-cased, or None when it is not one plausible email address."""
    text = (value or "").strip().lower()
    if len(text) > 254 or not _EMAIL_RE.match(text) or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    return text


def url_with_login_hint(url: str, hint: str) -> str:
    """The IdP's redirect URL with `login_hint` appended (the AuthnRequest's own parameters unchanged)."""
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode({'login_hint': hint})}" if parts.query else urlencode({"login_hint": hint})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def login_hint_mismatch_message(*, typed: str | None, signed_in: str) -> str | None:
    """What to tell someone whose IdP signed in a different address than the one they typed, else None."""
    if not typed or typed.lower() == (signed_in or "").lower():
        return None
    return (f"You typed {typed} on Portico, but your identity provider signed you in as {signed_in}. "
            f"You are now signed in as {signed_in}. If that is the wrong account, sign out here and at your "
            "identity provider, then sign in again with the right one.")
