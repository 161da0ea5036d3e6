"""What Portico decides about a SAML response at a tenant's ACS, before and beside pysaml2.

`acs_verify` runs Portico's own strict verifier (sso.saml_guard) against this tenant's IdP only,
then the policy pysaml2 leaves to the application: InResponseTo bookkeeping (per browser, per
tenant), IdP-initiated opt-in, single use of every assertion, the email attribute and the tenant's
email domains. Each refusal is a SignInRejected with a stable code and a plain-words detail.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from provisioning.models import AccessLevel
from sso.errors import SignInRejected
from sso.models import IdentityProvider
from sso.replay import assertion_consume
from sso.saml_guard import SamlRejected, verify_saml_response
from sso.sp import SpEndpoints
from sso.types import VerifiedResponse


@dataclass(frozen=True)
class SsoIdentity:
    email: str
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    object_id: str = ""
    groups: tuple[str, ...] = ()
    access_level: str | None = None  # from the tenant's groups mapping, when one matched


@dataclass(frozen=True)
class AcsResult:
    verified: VerifiedResponse
    identity: SsoIdentity
    idp_initiated: bool
    request_id: str | None = None
    extra: dict = field(default_factory=dict)


def _first(attributes: Mapping[str, list[str]], names: list[str]) -> str:
    for name in names:
        for value in attributes.get(name, []):
            if value and value.strip():
                return value.strip()
    return ""


def identity_from_assertion(*, verified: VerifiedResponse, idp: IdentityProvider) -> SsoIdentity:
    mapping = idp.attribute_mapping or {}
    attrs = verified.attributes
    email = _first(attrs, mapping.get("email", []))
    if not email and "@" in verified.name_id:
        email = verified.name_id.strip()  # NameID is the fallback Entra sends by default (UPN/email)
    if not email or "@" not in email:
        raise SignInRejected(
            "attribute_missing",
            "The IdP sent no email address: add the emailaddress claim (or an email NameID) in the IdP, "
            "or map the claim it does send on the SSO settings page.",
        )
    groups: list[str] = []
    for name in mapping.get("groups", []):
        groups.extend(v.strip() for v in attrs.get(name, []) if v.strip())
    levels = [AccessLevel.parse(level) for group, level in (idp.group_access_levels or {}).items() if group in groups]
    best = max((lvl for lvl in levels if lvl), key=AccessLevel.rank, default=None)
    return SsoIdentity(
        email=email.lower(), first_name=_first(attrs, mapping.get("first_name", [])),
        last_name=_first(attrs, mapping.get("last_name", [])),
        display_name=_first(attrs, mapping.get("display_name", [])),
        object_id=_first(attrs, mapping.get("object_id", [])), groups=tuple(groups),
        access_level=best.value if best else None,
    )


def acs_verify(
    *, idp: IdentityProvider, endpoints: SpEndpoints, saml_response: str, outstanding: Mapping[str, object],
    email_domains: list[str], now: datetime | None = None,
) -> AcsResult:
    """Verify a posted SAMLResponse for this tenant, or raise SignInRejected. Consumes the assertion."""
    try:
        verified = verify_saml_response(
            saml_response=saml_response, idp_entity_id=idp.entity_id,
            idp_certificates=[cert.pem for cert in idp.certificates.all()],
            sp_entity_id=endpoints.entity_id, acs_url=endpoints.acs_url, now=now,
            clock_skew=timedelta(seconds=settings.PORTICO_SAML_CLOCK_SKEW_SECONDS),
            max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES,
        )
    except SamlRejected as exc:
        raise SignInRejected(str(exc.code), exc.detail) from exc

    request_id = verified.in_response_to
    if request_id:
        # Even where IdP-initiated sign-in is allowed, an InResponseTo must name a request this
        # browser started on this tenant host (login CSRF, cross-tenant replays).
        if request_id not in outstanding:
            raise SignInRejected(
                "unknown_request",
                "This response answers a sign-in request that this browser did not start here, or that "
                "has expired. Start again from the sign-in page.",
            )
    elif not idp.allow_idp_initiated:
        raise SignInRejected(
            "idp_initiated_disabled",
            "The IdP started this sign-in (Entra's My Apps tile or 'Test this application'), and IdP-initiated "
            "sign-in is off for this organisation. Sign in from Portico's sign-in page, or turn it on in SSO settings.",
        )

    if not assertion_consume(issuer=verified.issuer, assertion_id=verified.assertion_id,
                             not_on_or_after=verified.not_on_or_after):
        raise SignInRejected("replay", "This SAML response was already used. Each response signs in once.")

    identity = identity_from_assertion(verified=verified, idp=idp)
    domain = identity.email.rsplit("@", 1)[1]
    if idp.restrict_email_domains and domain not in {d.lower() for d in email_domains}:
        raise SignInRejected(
            "email_domain",
            f"The email domain {domain} is not one of this organisation's email domains "
            f"({', '.join(sorted(email_domains)) or 'none registered'}). Add it on the SSO settings page.",
        )
    return AcsResult(verified=verified, identity=identity, idp_initiated=request_id is None, request_id=request_id)
