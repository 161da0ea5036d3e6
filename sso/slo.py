"""Single logout on a tenant host, signed both ways (SAML 2.0 Single Logout profile).

* SP-initiated: Portico's sign-out ends the Portico session first, then sends the person's browser to
  the IdP's logout URL with a LogoutRequest signed by the tenant's own SP key (sso.sp_keys); the IdP's
  LogoutResponse comes back to /sso/slo/ and must answer a request this browser sent.
* IdP-initiated: a LogoutRequest at /sso/slo/ is honoured only when its signature verifies against
  the tenant's pinned IdP certificates (sso.slo_guard); it is used once (sso.replay), ends every
  Portico session of the person it names on this tenant (provisioning.services.sessions_end_for, the
  function SCIM suspension uses) and is answered with a signed LogoutResponse.

Every refusal writes an audit row (`sso.logout_refused`) with the reference code the person sees.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.db import transaction

from provisioning.selectors import members_with_idp_subject
from provisioning.services import sessions_end_for
from sso.conf import IdpNotConfigured, idp_for_sign_in
from sso.diagnosis import http_status
from sso.models import IdentityProvider
from sso.replay import assertion_consume
from sso.saml_guard import SamlRejected
from sso.services import sign_in_reference
from sso.slo_guard import (
    DEFAULT_MAX_AGE,
    STATUS_SUCCESS,
    logout_request_xml,
    logout_response_xml,
    new_message_id,
    redirect_url_signed,
    verify_logout_post,
    verify_logout_redirect,
)
from sso.sp import SpEndpoints
from sso.sp_keys import SpKeyUnreadable, sp_signing_key
from sso.types import LogoutMessage, RejectCode, SamlSubject
from tenants.models import Tenant
from tenants.services import audit_record

logger = logging.getLogger("portico.sso")

SAML_SUBJECT_KEY = "portico_saml_subject"  # Django session: the SamlSubject of this sign-in
LOGOUT_REQUESTS_KEY = "portico_logout_requests"  # saml session: LogoutRequest ID -> when sent (epoch s)

# Entra signs people in as https://sts.windows.net/{tenant id}/ but issues its logout messages as
# https://login.microsoftonline.com/{tenant id}/ (Microsoft's "Single Sign-Out SAML Protocol",
# learn.microsoft.com/entra/identity-platform/single-sign-out-saml-protocol, LogoutResponse sample;
# MicrosoftDocs/azure-docs#108484). Only that one sibling of a configured Entra Issuer is accepted.
_ENTRA_SIGN_IN_ISSUER = re.compile(r"^https://sts\.windows\.net/([0-9a-fA-F-]{36})/$")


def idp_logout_issuers(*, entity_id: str) -> frozenset[str]:
    """The Issuers a logout message from this IdP may carry: its entity ID, and for Entra its logout Issuer."""
    match = _ENTRA_SIGN_IN_ISSUER.match(entity_id)
    if match:
        return frozenset({entity_id, f"https://login.microsoftonline.com/{match.group(1)}/"})
    return frozenset({entity_id})


# --- SP-initiated: the request Portico sends ---


@dataclass(frozen=True)
class SloStart:
    redirect_to: str  # the IdP's logout URL with the signed LogoutRequest
    request_id: str


def slo_request_start(*, tenant: Tenant, endpoints: SpEndpoints, subject: SamlSubject | None,
                      now: datetime | None = None) -> SloStart | None:
    """The signed LogoutRequest for a person who just signed out, or None where there is nobody to tell:
    no SAML sign-in in the session, no enabled IdP, no logout URL, or the IdP changed since sign-in."""
    if subject is None or tenant.is_public:
        return None
    try:
        idp = idp_for_sign_in(tenant)  # the live connection, the one people sign in through
    except IdpNotConfigured:
        return None
    if not idp.slo_url or subject.issuer != idp.entity_id:
        return None
    key = sp_signing_key(tenant=tenant)
    request_id = new_message_id()
    xml = logout_request_xml(request_id=request_id, issuer=endpoints.entity_id, destination=idp.slo_url,
                             name_id=subject.name_id, name_id_format=subject.name_id_format,
                             session_index=subject.session_index, now=now or datetime.now(timezone.utc))
    url = redirect_url_signed(location=idp.slo_url, param="SAMLRequest", xml=xml, relay_state=None,
                              private_key_pem=key.private_key_pem)
    logger.info("single logout sent tenant=%s request=%s", tenant.slug, request_id)
    return SloStart(redirect_to=url, request_id=request_id)


# --- what /sso/slo/ receives ---


@dataclass(frozen=True)
class SloMessageIn:
    """What the view read from the request, untouched."""

    method: str  # "GET" (HTTP-Redirect) or "POST" (HTTP-POST)
    raw_query: str  # QUERY_STRING exactly as received
    form: Mapping[str, str]
    host: str
    remote_addr: str | None


@dataclass(frozen=True)
class SloLoggedOut:
    """The IdP answered Portico's LogoutRequest (Portico's own session had already ended)."""

    request_id: str
    idp_signed_out: bool  # its status was Success


@dataclass(frozen=True)
class SloHonoured:
    """An IdP-initiated LogoutRequest was verified and every session of the person it names ended."""

    user_ids: frozenset[int]
    sessions_ended: int
    redirect_to: str | None  # the signed LogoutResponse to the IdP; None when it has no logout URL


@dataclass(frozen=True)
class SloRefused:
    code: RejectCode
    reference: str
    status: int


SloOutcome = SloLoggedOut | SloHonoured | SloRefused


class _Refused(Exception):
    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def slo_receive(*, tenant: Tenant, endpoints: SpEndpoints, message: SloMessageIn,
                outstanding: Mapping[str, float], now: datetime | None = None) -> SloOutcome:
    """Decide a logout message at /sso/slo/. `outstanding` are the LogoutRequests this browser sent
    (ID -> epoch seconds). Raises IdpNotConfigured where SSO is not set up; never changes anything
    for a message it refuses."""
    idp = idp_for_sign_in(tenant)
    now = now or datetime.now(timezone.utc)
    skew = timedelta(seconds=settings.PORTICO_SAML_CLOCK_SKEW_SECONDS)
    try:
        verified = _verify(idp=idp, endpoints=endpoints, message=message, now=now, skew=skew)
        if verified.kind == "response":
            return _response_accept(verified, outstanding=outstanding, now=now)
        return _request_honour(tenant=tenant, idp=idp, endpoints=endpoints, verified=verified, now=now, skew=skew)
    except SamlRejected as exc:
        return _refuse(tenant=tenant, message=message, code=exc.code, detail=exc.detail)
    except _Refused as exc:
        return _refuse(tenant=tenant, message=message, code=exc.code, detail=exc.detail)


def _verify(*, idp: IdentityProvider, endpoints: SpEndpoints, message: SloMessageIn, now: datetime,
            skew: timedelta) -> LogoutMessage:
    certificates = [cert.pem for cert in idp.certificates.all()]
    issuers = idp_logout_issuers(entity_id=idp.entity_id)
    if message.method == "POST":
        fields = [name for name in ("SAMLRequest", "SAMLResponse") if message.form.get(name)]
        if len(fields) != 1:
            raise _Refused(RejectCode.malformed, "The logout form must carry exactly one SAMLRequest or SAMLResponse.")
        return verify_logout_post(param=fields[0], value=message.form[fields[0]],
                                  relay_state=message.form.get("RelayState"), idp_certificates=certificates,
                                  expected_issuers=issuers, slo_url=endpoints.slo_url, now=now, clock_skew=skew)
    return verify_logout_redirect(raw_query=message.raw_query, idp_certificates=certificates,
                                  expected_issuers=issuers, slo_url=endpoints.slo_url, now=now, clock_skew=skew)


def _response_accept(verified: LogoutMessage, *, outstanding: Mapping[str, float], now: datetime) -> SloLoggedOut:
    request_id = verified.in_response_to or ""
    if request_id not in outstanding:
        raise _Refused(RejectCode.logout_unknown_request,
                       "This LogoutResponse answers a logout request this browser did not send here (or already "
                       "answered).")
    if outstanding[request_id] < now.timestamp() - settings.PORTICO_SAML_REQUEST_TTL_SECONDS:
        raise _Refused(RejectCode.request_expired, "This LogoutResponse answers a logout request sent more than "
                       f"{settings.PORTICO_SAML_REQUEST_TTL_SECONDS // 60} minutes ago.")
    ok = verified.status == STATUS_SUCCESS
    logger.info("single logout answered request=%s status=%s signed=%s", request_id, verified.status, verified.signed)
    return SloLoggedOut(request_id=request_id, idp_signed_out=ok)


def _request_honour(*, tenant: Tenant, idp: IdentityProvider, endpoints: SpEndpoints, verified: LogoutMessage,
                    now: datetime, skew: timedelta) -> SloHonoured:
    # Remembered until it could no longer pass the IssueInstant window anyway.
    expires = verified.issue_instant + DEFAULT_MAX_AGE + skew
    if verified.not_on_or_after is not None:
        expires = min(expires, verified.not_on_or_after)
    if not assertion_consume(issuer=verified.issuer, assertion_id=f"logout-request:{verified.message_id}",
                             not_on_or_after=max(expires, now)):
        raise _Refused(RejectCode.replay, "This LogoutRequest was already used. Each one is honoured once.")
    members = members_with_idp_subject(idp_subject=verified.name_id)
    with transaction.atomic():
        ended = sum(sessions_end_for(user_id=user_id) for user_id, _email in members)
        audit_record(actor=f"idp:{verified.issuer}", action="sso.logout_idp", tenant=tenant,
                     target=", ".join(sorted(email for _uid, email in members)) or verified.name_id[:200],
                     data={"sessions_ended": ended, "request_id": verified.message_id[:100],
                           "people": len(members)})
    logger.info("single logout by the IdP tenant=%s request=%s people=%d sessions=%d", tenant.slug,
                verified.message_id, len(members), ended)
    redirect_to = None
    if idp.slo_url:
        try:
            key = sp_signing_key(tenant=tenant)
        except SpKeyUnreadable:  # the sessions are ended already; only the IdP goes unanswered
            logger.exception("single logout: no LogoutResponse sent, the tenant's SP key cannot be read")
        else:
            xml = logout_response_xml(response_id=new_message_id(), issuer=endpoints.entity_id,
                                      destination=idp.slo_url, in_response_to=verified.message_id, now=now)
            redirect_to = redirect_url_signed(location=idp.slo_url, param="SAMLResponse", xml=xml,
                                              relay_state=verified.relay_state, private_key_pem=key.private_key_pem)
    return SloHonoured(user_ids=frozenset(uid for uid, _email in members), sessions_ended=ended,
                       redirect_to=redirect_to)


def _refuse(*, tenant: Tenant, message: SloMessageIn, code: RejectCode, detail: str) -> SloRefused:
    reference = sign_in_reference()
    audit_record(actor="system", action="sso.logout_refused", tenant=tenant, target=reference,
                 data={"reference": reference, "code": str(code), "detail": detail[:1000],
                       "binding": "HTTP-POST" if message.method == "POST" else "HTTP-Redirect",
                       "host": message.host[:253], "remote_addr": message.remote_addr or ""})
    logger.warning("single logout refused ref=%s tenant=%s code=%s: %s", reference, tenant.slug, code, detail)
    return SloRefused(code=code, reference=reference, status=http_status(code))


def logout_requests_pending(saml_session: Mapping[str, object]) -> dict[str, float]:
    """The LogoutRequests this browser sent that wait for an answer, newest kept (a handful at most)."""
    value = saml_session.get(LOGOUT_REQUESTS_KEY)
    if not isinstance(value, dict):
        return {}
    oldest = time.time() - settings.PORTICO_SAML_REQUEST_TTL_SECONDS
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float)) and v >= oldest}
