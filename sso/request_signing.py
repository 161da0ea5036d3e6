"""Signing SP-initiated AuthnRequests for the HTTP-Redirect binding (SAML bindings §3.4.4.1), in Portico.

djangosaml2/pysaml2 build the AuthnRequest and its redirect URL; when the tenant signs requests
(IdentityProvider.sign_authn_requests) Portico adds SigAlg and Signature to that URL itself, with the
tenant's SP key from sso.sp_keys, instead of letting pysaml2 sign. Why: pysaml2 signs a redirect with
a module-global signer object whose `.key` each call overwrites (saml2.sigver.CryptoBackend.get_signer
sets SIGNER_ALGS[alg].key), so two tenants signing at once in one process could swap keys; and its
key material comes from `key_file` paths, which would mean writing each tenant's decrypted private key
to disk. Here the key stays in memory and each call signs with the key it is given.

The signature covers the URL-encoded values exactly as they appear in the query string:
"SAMLRequest=…&RelayState=…&SigAlg=…" (RelayState only when present). Anything the IdP URL itself
carries, and `login_hint` appended afterwards (sso.login_hint), is outside the signed string, as the
binding allows.
"""
from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIG_ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def redirect_url_sign(*, url: str, private_key_pem: bytes) -> str:
    """`url` (an HTTP-Redirect message URL: an AuthnRequest, or any SAMLRequest/SAMLResponse) with SigAlg
    and Signature (RSA-SHA256) added."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.query.split("&") if segment] if parts.query else []
    found: dict[str, list[str]] = {}
    for segment in segments:
        found.setdefault(segment.split("=", 1)[0], []).append(segment)
    if "SigAlg" in found or "Signature" in found:
        raise ValueError("the redirect URL is already signed")
    messages = found.get("SAMLRequest", []) + found.get("SAMLResponse", [])  # a LogoutResponse is signed alike
    if len(messages) != 1 or len(found.get("RelayState", [])) > 1:
        raise ValueError("the redirect URL must carry exactly one SAMLRequest or SAMLResponse and at most one "
                         "RelayState")
    sig_alg = f"SigAlg={quote_plus(SIG_ALG_RSA_SHA256)}"
    signed = "&".join([*messages, *found.get("RelayState", []), sig_alg])
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the SP signing key must be RSA")
    signature = key.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    query = f"{parts.query}&{sig_alg}&Signature={quote_plus(base64.b64encode(signature).decode('ascii'))}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
