"""The demo's support staff authenticator (DEBUG-only demo_setup enrols it; never used otherwise).

The demo `support` account has a known password and this known TOTP secret, so whoever runs
`./scripts/dev` can sign in to Django admin with the second factor Portico requires of every staff
account: add the secret to an authenticator app, or print the current code with
`.venv/bin/python -m portal.demo`.
"""
from __future__ import annotations

from base64 import b32encode
from binascii import unhexlify

from django_otp.oath import totp

# 20 bytes, hex, as django-otp stores TOTP keys. Public on purpose: a demo secret, like the password.
DEMO_TOTP_KEY_HEX = "506f727469636f2d64656d6f2d6f6e6c79212121"


def demo_totp_secret() -> str:
    """The base32 secret an authenticator app takes."""
    return b32encode(unhexlify(DEMO_TOTP_KEY_HEX)).decode().rstrip("=")


def demo_totp_code() -> str:
    return f"{totp(unhexlify(DEMO_TOTP_KEY_HEX)):06d}"


if __name__ == "__main__":
    print(f"Portico demo support code: {demo_totp_code()} (changes every 30 seconds; each code works once)")
