"""Credentials inside e-mails, kept unreadable until the moment of sending.

A one-time link must not sit readable in the outbox (Django admin, database dumps) while the
e-mail waits to be sent. email_queue renders the bodies with a placeholder for each such value and
stores the values encrypted with a key derived from SECRET_KEY (Fernet: AES-128-CBC + HMAC-SHA256);
the send task decrypts them and fills them in, in the outgoing message only. Rotating SECRET_KEY
makes unsent sealed e-mails unsendable (their set-up links must be sent anew).
"""
from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.html import escape


class SealBroken(ValueError):
    """The sealed values can't be read (SECRET_KEY changed since the e-mail was queued)."""


def placeholder(name: str) -> str:
    return f"[{name}: filled in when the e-mail is sent]"


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"portico.outbox.sealed:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values).encode()).decode() if values else ""


def unseal(sealed: str) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        return dict(json.loads(_fernet().decrypt(sealed.encode())))
    except (InvalidToken, ValueError) as exc:
        raise SealBroken("The e-mail's sealed link can't be read (SECRET_KEY changed?); send a new one.") from exc


def fill(text: str, values: dict[str, str], *, html: bool = False) -> str:
    for name, value in values.items():
        text = text.replace(escape(placeholder(name)) if html else placeholder(name), escape(value) if html else value)
    return text
