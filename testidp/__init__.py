"""A self-contained SAML 2.0 test identity provider that answers like Microsoft Entra ID.

Used by tests, the developer demo and benchmarks, so it must not import Django.
"""
from __future__ import annotations

from testidp.idp import AuthnRequestInfo, TestIdP
from testidp.keys import KeyPair, generate_keypair, load_or_create_keypair

__all__ = ["AuthnRequestInfo", "KeyPair", "TestIdP", "generate_keypair", "load_or_create_keypair"]
