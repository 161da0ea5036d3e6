"""The one normalisation of e-mail addresses and email domains that Portico compares people by.

Identity is decided by exact comparison of canonical forms, never by case folding in Python
(`str.lower()` maps the Kelvin sign K to "k") or in PostgreSQL (`UPPER()`/`iexact` maps the dotless
ı to "I"): look-alike addresses must stay different people.

Canonical form: the local part is ASCII, with A-Z lower-cased and nothing else changed; the domain
is IDNA-encoded (UTS #46, A-labels, lower-case ASCII); RFC 5321's limits hold (local part 64, domain 253,
whole address 254) and so does Portico's own storage limit (150, the username column).
"""
from __future__ import annotations

import re

import idna

MAX_LOCAL = 64          # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254       # RFC 5321 §4.5.3.1.3 (path 256, less the angle brackets)
MAX_STORED = 150        # Django's username column, where tenant users are keyed by address

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# RFC 5322 dot-atom local parts (what IdPs and directories issue); quoted local parts are refused.
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidAddress(ValueError):
    """The text is not an address Portico can identify someone by; the message says why."""


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only: the one case change Portico makes to identifiers."""
    return text.translate(_ASCII_LOWER)


def domain_canonical(domain: str) -> str:
    """A domain as IDNA A-labels in lower case, or InvalidAddress."""
    text = (domain or "").strip().rstrip(".")
    if not text:
        raise InvalidAddress("The address has no domain.")
    try:
        # UTS #46 mapping is how DNS itself treats a Unicode name: the result is the name mail goes to.
        encoded = ascii_lower(text) if text.isascii() else idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidAddress(f"The domain {domain!r} is not a valid internationalised domain name.") from exc
    labels = encoded.split(".")
    if len(encoded) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidAddress(f"The domain {domain!r} is not a valid domain name.")
    return encoded


def email_canonical(address: str) -> str:
    """The canonical form of an e-mail address, or InvalidAddress saying what is wrong with it."""
    text = (address or "").strip()
    if text.count("@") != 1:
        raise InvalidAddress("An e-mail address has exactly one @.")
    local, domain = text.split("@")
    if not local.isascii():
        raise InvalidAddress("Portico accepts e-mail addresses whose part before the @ is plain ASCII.")
    local = ascii_lower(local)
    if len(local) > MAX_LOCAL:
        raise InvalidAddress(f"The part before the @ is longer than {MAX_LOCAL} characters (RFC 5321).")
    if not _LOCAL.match(local):
        raise InvalidAddress("The part before the @ has characters an e-mail address cannot have.")
    canonical = f"{local}@{domain_canonical(domain)}"
    if len(canonical) > MAX_ADDRESS:
        raise InvalidAddress(f"The address is longer than {MAX_ADDRESS} characters (RFC 5321).")
    if len(canonical) > MAX_STORED:
        raise InvalidAddress(f"Portico accepts e-mail addresses of up to {MAX_STORED} characters.")
    return canonical
