"""Errors of the test IdP; the WSGI app turns them into 400 responses."""
from __future__ import annotations


class TestIdPError(Exception):
    """Base class; the message is safe to show to the browser."""

    __test__ = False  # not a pytest test class despite the name


class InvalidAuthnRequest(TestIdPError):
    """The SAMLRequest could not be decoded, parsed or used."""


class InvalidInput(TestIdPError):
    """A query or form parameter is missing or malformed."""
