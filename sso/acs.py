"""Everything the ACS decides about a posted SAMLResponse, as one service: `acs_process`.

The response is decoded and parsed once, by Portico's verifier (sso.saml_guard), which is the only
signature and protocol check on the sign-in path (README, Security: pysaml2 builds AuthnRequests
and keeps the outstanding-request bookkeeping, it no longer re-checks responses). Then the policy
SAML leaves to the application: InResponseTo issued by this browser on this tenant host,
IdP-initiated opt-in, single use of every assertion (sso.replay), the email attribute and the
tenant's email domains. Every outcome, refused or not, is written to the sign-in attempt log with
the reference code the person sees.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User

from provisioning.errors import SignInRefusal, SignInRefused
from provisioning.models import AccessLevel
from provisioning.selectors import membership_state
from sso.backends import SsoIdentityBackend
from sso.conf import idp_for_sign_in
from sso.diagnosis import decoded_for_display, http_status
from sso.errors import SignInRejected
from sso.models import IdentityProvider, SignInAttempt
from sso.redirects import safe_next
from sso.replay import assertion_consume
from sso.saml_guard import SamlRejected, verify_saml_response
from sso.services import idp_draft_tested, sign_in_attempt_record
from sso.sp import SpEndpoints
from sso.sp_keys import SpKeyUnreadable, sp_decryption_keys
from sso.types import RejectCode, ResponseSeen, SamlSubject, VerifiedResponse
from tenants.addresses import InvalidAddress, domain_canonical, email_canonical
from tenants.models import Tenant
from tenants.selectors import email_domains_split

logger = logging.getLogger("portico.sso")

@dataclass(frozen=True)
class SsoIdentity:
    email: str
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    object_id: str = ""
    groups: tuple[str, ...] = ()
    access_level: str | None = None  # from the tenant's groups mapping, when one matched


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
            RejectCode.attribute_missing,
            "The IdP sent no email address: add the emailaddress claim (or an email NameID) in the IdP, "
            "or map the claim it does send on the SSO settings page.",
        )
    try:
        email = email_canonical(email)
    except InvalidAddress as exc:
        raise SignInRejected(RejectCode.email_invalid, f"The IdP sent the email address {email[:80]!r}"
                             f"{'…' if len(email) > 80 else ''}, which Portico refuses: {exc}") from None
    groups: list[str] = []
    for name in mapping.get("groups", []):
        groups.extend(v.strip() for v in attrs.get(name, []) if v.strip())
    levels = [AccessLevel.parse(level) for group, level in (idp.group_access_levels or {}).items() if group in groups]
    best = max((lvl for lvl in levels if lvl), key=AccessLevel.rank, default=None)
    return SsoIdentity(
        email=email, first_name=_first(attrs, mapping.get("first_name", [])),
        last_name=_first(attrs, mapping.get("last_name", [])),
        display_name=_first(attrs, mapping.get("display_name", [])),
        object_id=_first(attrs, mapping.get("object_id", [])), groups=tuple(groups),
        access_level=best.value if best else None,
    )


# --- what the view hands in ---


@dataclass(frozen=True)
class AcsForm:
    """The posted form values, untouched."""

    saml_response: str
    relay_state: str = ""
    bounced: bool = False  # the same-site re-post of sso/acs_bounce.html


@dataclass(frozen=True)
class ClientMeta:
    host: str
    remote_addr: str | None
    user_agent: str


@dataclass(frozen=True)
class AcsContext:
    """What the ACS needs to know about the request, read once by the view."""

    tenant: Tenant
    endpoints: SpEndpoints
    # The browser's saml session: request IDs it issued (djangosaml2's OutstandingQueriesCache)
    # and which of them are test sign-ins.
    outstanding: Mapping[str, object]
    test_requests: Collection[str]
    has_saml_session_cookie: bool
    client: ClientMeta
    # Of `outstanding`, those issued longer ago than PORTICO_SAML_REQUEST_TTL_SECONDS.
    expired_requests: Collection[str] = frozenset()
    # Of `test_requests`, those started against the tenant's draft connection: request ID → the
    # draft version it was started for (sso.views.SsoLoginView, test=draft).
    draft_tests: Mapping[str, int] = field(default_factory=dict)
    # Whether a refused post's body may still be kept for diagnosis: the rate limiter's budget
    # (portal.ratelimit) says no once a client's refusals pile up.
    keep_refused_body: Callable[[], bool] = lambda: True


# --- what comes back ---


@dataclass(frozen=True)
class AcsBounce:
    """Send the form back through the browser once, same-site, so the Lax cookies come along."""

    saml_response: str
    relay_state: str


@dataclass(frozen=True)
class AcsSignedIn:
    user: User  # authenticated by sso.backends.SsoIdentityBackend; `user.backend` is set
    redirect_to: str
    answered_request: str | None  # forget it in the saml session
    subject: SamlSubject  # kept in the session: single logout names it to the IdP (sso.slo)


@dataclass(frozen=True)
class AcsTestDone:
    """A test sign-in finished (either way): show its result page; nobody was signed in or up."""

    reference: str
    answered_request: str | None


@dataclass(frozen=True)
class AcsRefused:
    code: RejectCode
    reference: str
    status: int


AcsOutcome = AcsBounce | AcsSignedIn | AcsTestDone | AcsRefused


@dataclass(frozen=True)
class SsoSignIn:
    """The credentials sso.backends.SsoIdentityBackend accepts: a verified identity for one tenant."""

    tenant: Tenant
    identity: SsoIdentity
    subject: str  # the NameID
    issuer: str  # the IdP entity ID the identity is bound under (provisioning.models.Membership)


# --- the service ---


def acs_process(*, form: AcsForm, context: AcsContext, now: datetime | None = None) -> AcsOutcome:
    """Decide a posted SAMLResponse for this tenant. Raises IdpNotConfigured where SSO is not set up."""
    max_bytes = settings.PORTICO_SAML_MAX_RESPONSE_BYTES
    if len(form.saml_response) > max_bytes * 4 // 3 + 4:
        return _refused(context, form, SignInRejected(RejectCode.too_large,
                                                      "The SAML response is larger than Portico accepts."),
                        seen=None, is_test=False)
    # The IdP's POST is cross-site, so the browser withheld our SameSite=Lax cookies (djangosaml2
    # issue #408); the bounce page posts the same form again from our own origin, which carries them.
    if not context.has_saml_session_cookie and not form.bounced:
        return AcsBounce(saml_response=form.saml_response, relay_state=form.relay_state)
    draft_outcome = _draft_test(form, context, now=now)
    if draft_outcome is not None:
        return draft_outcome
    idp = idp_for_sign_in(context.tenant)
    try:
        verified = _verify(form, context, entity_id=idp.entity_id,
                           certificates=[cert.pem for cert in idp.certificates.all()], now=now,
                           require_encryption=idp.require_encrypted_assertions)
    except SamlRejected as exc:
        seen = exc.seen
        is_test = seen is not None and _is_test(seen.in_response_to, context)
        return _refused(context, form, SignInRejected(exc.code, exc.detail), seen=seen, is_test=is_test)

    seen = ResponseSeen(issuer=verified.issuer, in_response_to=verified.in_response_to, xml=verified.xml)
    is_test = _is_test(verified.in_response_to, context)
    verified_domains, pending_domains = email_domains_split(tenant=context.tenant)
    try:
        identity = acs_policy_check(verified=verified, idp=idp, outstanding=context.outstanding,
                                    email_domains=verified_domains, pending_email_domains=pending_domains,
                                    expired_requests=context.expired_requests)
    except SignInRejected as exc:
        return _refused(context, form, exc, seen=seen, is_test=is_test)
    if is_test:
        return _test_succeeded(context, verified, identity, policy=idp)
    return _sign_in(context, form, verified, identity, seen)


def _decryption_keys(tenant: Tenant) -> list[bytes]:
    """The tenant's live SP private keys, read only when a response is encrypted."""
    try:
        return [key.private_key_pem for key in sp_decryption_keys(tenant=tenant)]
    except SpKeyUnreadable:
        # The refusal says Portico holds no readable key; the operator's log says why.
        logger.error("SP private key of tenant %s cannot be decrypted with PORTICO_KEY_ENCRYPTION_KEYS", tenant.slug)
        return []


def _verify(form: AcsForm, context: AcsContext, *, entity_id: str, certificates: list[str],
            now: datetime | None, require_encryption: bool = False) -> VerifiedResponse:
    return verify_saml_response(
        saml_response=form.saml_response, idp_entity_id=entity_id, idp_certificates=certificates,
        sp_entity_id=context.endpoints.entity_id, acs_url=context.endpoints.acs_url, now=now,
        clock_skew=timedelta(seconds=settings.PORTICO_SAML_CLOCK_SKEW_SECONDS),
        max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES,
        max_lifetime=timedelta(seconds=settings.PORTICO_SAML_MAX_ASSERTION_LIFETIME_SECONDS),
        # The tenant's own SP keys, live or draft connection alike (the key pair is the tenant's).
        decryption_keys=lambda: _decryption_keys(context.tenant), require_encryption=require_encryption,
    )


def _draft_test(form: AcsForm, context: AcsContext, *, now: datetime | None) -> AcsTestDone | AcsRefused | None:
    """The outcome when this response answers a test sign-in this browser started against the tenant's
    draft connection; None for every other response, which the live connection alone decides.

    Only a browser with a draft test outstanding gets here. The response is verified against the
    draft's entity ID and certificates; whether it answers a draft test is then read from what the
    verifier proved (or, when it refused, from what the response claimed), and the outcome is a test
    result, never a sign-in. A response signed by the draft's key that answers anything else falls
    through to the live connection, which refuses it.
    """
    from sso.selectors import idp_draft_for_tenant, idp_for_tenant

    if not context.draft_tests:
        return None  # the common case: one verification, against the live connection
    draft = idp_draft_for_tenant(tenant=context.tenant)
    if draft is None:
        return None  # activated or discarded since: a test of whatever is live now
    try:
        verified = _verify(form, context, entity_id=draft.entity_id, certificates=list(draft.certificate_pems),
                           now=now)
    except SamlRejected as exc:
        claimed = exc.seen.in_response_to if exc.seen is not None else None
        if not claimed or claimed not in context.draft_tests:
            return None
        if int(context.draft_tests[claimed]) != draft.version:
            return _draft_changed(context, form)
        return _refused(context, form, SignInRejected(exc.code, f"Against the draft connection: {exc.detail}"),
                        seen=exc.seen, is_test=True, against="draft")
    request_id = verified.in_response_to
    if not request_id or request_id not in context.draft_tests:
        return None
    if int(context.draft_tests[request_id]) != draft.version:
        return _draft_changed(context, form)
    seen = ResponseSeen(issuer=verified.issuer, in_response_to=verified.in_response_to, xml=verified.xml)
    # The options (attribute mapping, groups, email domains) are the live connection's, which the
    # draft inherits when activated; a first connection has the defaults.
    policy = idp_for_tenant(tenant=context.tenant) or IdentityProvider(tenant=context.tenant)
    verified_domains, pending_domains = email_domains_split(tenant=context.tenant)
    try:
        identity = acs_policy_check(verified=verified, idp=policy, outstanding=context.outstanding,
                                    email_domains=verified_domains, pending_email_domains=pending_domains,
                                    expired_requests=context.expired_requests)
    except SignInRejected as exc:
        return _refused(context, form, exc, seen=seen, is_test=True, against="draft")
    done = _test_succeeded(context, verified, identity, policy=policy, against="draft")
    idp_draft_tested(tenant=context.tenant, draft_version=draft.version, reference=done.reference)
    return done


def _draft_changed(context: AcsContext, form: AcsForm) -> AcsTestDone | AcsRefused:
    return _refused(context, form, SignInRejected(
        RejectCode.unknown_request,
        "The draft connection this test sign-in was started against has been changed since. "
        "Run Test sign-in again."), seen=None, is_test=True, against="draft")


def acs_policy_check(
    *, verified: VerifiedResponse, idp: IdentityProvider, outstanding: Mapping[str, object], email_domains: list[str],
    expired_requests: Collection[str] = frozenset(), pending_email_domains: Collection[str] = (),
) -> SsoIdentity:
    """Portico's policy over a verified response, or SignInRejected. Consumes the assertion."""
    request_id = verified.in_response_to
    if request_id:
        # Even where IdP-initiated sign-in is allowed, an InResponseTo must name a request this
        # browser started on this tenant host (login CSRF, cross-tenant replays).
        if request_id not in outstanding:
            raise SignInRejected(
                RejectCode.unknown_request,
                "This response answers a sign-in request that this browser did not start here, or that "
                "has expired. Start again from the sign-in page.",
            )
        if request_id in expired_requests:
            raise SignInRejected(
                RejectCode.request_expired,
                f"This response answers a sign-in request issued more than "
                f"{settings.PORTICO_SAML_REQUEST_TTL_SECONDS // 60} minutes ago. Start again from the sign-in page.",
            )
    elif not idp.allow_idp_initiated:
        raise SignInRejected(
            RejectCode.idp_initiated_disabled,
            "The IdP started this sign-in (Entra's My Apps tile or 'Test this application'), and IdP-initiated "
            "sign-in is off for this organisation. Sign in from Portico's sign-in page, or turn it on in SSO settings.",
        )

    # What can never become acceptable is refused before the assertion is consumed, so a later
    # fix in the IdP's claims is not blocked by a spent response, and nothing is written for it.
    identity = identity_from_assertion(verified=verified, idp=idp)
    domain = identity.email.rsplit("@", 1)[1]
    # Only verified domains count (the same list discovery routes by); a pending claim is named as such.
    if idp.restrict_email_domains and domain not in {_domain_or_none(d) for d in email_domains}:
        if domain in {_domain_or_none(d) for d in pending_email_domains}:
            raise SignInRejected(
                RejectCode.email_domain_unverified,
                f"The email domain {domain} is added for this organisation but not verified yet: publish the DNS "
                "TXT record shown in SSO settings, section 3, then press Verify now.",
            )
        raise SignInRejected(
            RejectCode.email_domain,
            f"The email domain {domain} is not one of this organisation's email domains "
            f"({', '.join(sorted(email_domains)) or 'none registered'}). Add it on the SSO settings page.",
        )
    if not assertion_consume(issuer=verified.issuer, assertion_id=verified.assertion_id,
                             not_on_or_after=verified.not_on_or_after):
        raise SignInRejected(RejectCode.replay, "This SAML response was already used. Each response signs in once.")
    return identity


def _domain_or_none(domain: str) -> str | None:
    try:
        return domain_canonical(domain)
    except InvalidAddress:
        return None


def _is_test(in_response_to: str | None, context: AcsContext) -> bool:
    return bool(in_response_to) and in_response_to in context.test_requests


def _sign_in(context: AcsContext, form: AcsForm, verified: VerifiedResponse, identity: SsoIdentity,
             seen: ResponseSeen) -> AcsOutcome:
    credentials = SsoSignIn(tenant=context.tenant, identity=identity, subject=verified.name_id,
                            issuer=verified.issuer)
    try:
        # The backend directly, not django.contrib.auth.authenticate(), which would swallow the
        # refusal's reason (it turns PermissionDenied into None).
        user = SsoIdentityBackend().authenticate(None, sso_identity=credentials)
    except SignInRefused as exc:
        return _refused(context, form, SignInRejected(_REFUSALS[exc.code], str(exc)), seen=seen, is_test=False)
    if user is not None:
        user.backend = f"{SsoIdentityBackend.__module__}.{SsoIdentityBackend.__qualname__}"
    if user is None:
        return _refused(context, form, SignInRejected(
            RejectCode.not_authorized, f"The account {identity.email} is deactivated in Portico."),
            seen=seen, is_test=False)
    _record(context, outcome=SignInAttempt.Outcome.SUCCESS, code="ok", message=f"Signed in as {identity.email}.",
            email=identity.email, seen=seen, is_test=False)
    redirect_to = "/waiting-room/" if membership_state(user=user) == "waiting_room" else safe_next(form.relay_state)
    subject = SamlSubject(issuer=verified.issuer, name_id=verified.name_id, name_id_format=verified.name_id_format,
                          session_index=verified.session_index)
    return AcsSignedIn(user=user, redirect_to=redirect_to, answered_request=verified.in_response_to, subject=subject)


_REFUSALS: dict[SignInRefusal, RejectCode] = {
    SignInRefusal.SUSPENDED: RejectCode.member_suspended,
    SignInRefusal.DEPROVISIONED: RejectCode.member_deprovisioned,
    SignInRefusal.IDENTITY_MISMATCH: RejectCode.identity_mismatch,
}


def _test_succeeded(context: AcsContext, verified: VerifiedResponse, identity: SsoIdentity, *,
                    policy: IdentityProvider, against: str = "live") -> AcsTestDone:
    attempt = _record(
        context, outcome=SignInAttempt.Outcome.SUCCESS, code="ok", is_test=True,
        message=(f"Test sign-in{' against the draft connection' if against == 'draft' else ''} succeeded for "
                 f"{identity.email} (name: {identity.first_name} {identity.last_name}".rstrip() + ")."
                 + (" The assertion was encrypted to Portico's certificate and decrypted." if verified.encrypted
                    else "")),
        email=identity.email, seen=ResponseSeen(issuer=verified.issuer, in_response_to=verified.in_response_to,
                                                xml=verified.xml), response_xml=verified.xml,
        test_claims=test_claims_read(verified=verified, identity=identity, idp=policy, against=against),
    )
    return AcsTestDone(reference=attempt.reference, answered_request=verified.in_response_to)


def test_claims_read(*, verified: VerifiedResponse, identity: SsoIdentity, idp: IdentityProvider,
                     against: str) -> dict[str, object]:
    """What the test result page shows: each claim Portico read, the access level the groups map to,
    and the identity a real sign-in would bind (read-only: nothing is bound or created)."""
    mapping = idp.group_access_levels or {}
    levels = dict(AccessLevel.choices)
    groups = [{"group": group, "access_level": levels.get(str(AccessLevel.parse(mapping[group]) or ""), "")
               if group in mapping else ""} for group in identity.groups]
    return {
        "against": against, "issuer": verified.issuer, "name_id": verified.name_id,
        "email": identity.email, "first_name": identity.first_name, "last_name": identity.last_name,
        "display_name": identity.display_name, "object_id": identity.object_id, "groups": groups,
        "access_level": levels.get(identity.access_level or "", ""),
        "binding": _binding_preview(identity=identity, issuer=verified.issuer),
    }


def _binding_preview(*, identity: SsoIdentity, issuer: str) -> str:
    from provisioning.services import email_normalize, member_match_for_sign_in

    key = (f"object ID {identity.object_id} under {issuer}" if identity.object_id
           else f"the email {identity.email} (no immutable object ID was sent)")
    try:
        member = member_match_for_sign_in(email=email_normalize(identity.email), idp_entity_id=issuer,
                                          idp_object_id=identity.object_id)
    except SignInRefused as exc:
        return f"A real sign-in with {key} would be refused: {exc}"
    if member is None:
        granted = f" and let in as {identity.access_level} by its groups" if identity.access_level else \
            " and placed in the Waiting Room"
        return f"A new person, {identity.email}: a real sign-in would create them, bound to {key},{granted}."
    who = f"{member.user.email} ({member.get_access_level_display() or 'no access level'}, {member.get_state_display()})"
    if member.is_bound:
        return f"The existing member {who}, already bound to {key}."
    return f"The existing member {who}: a real sign-in would bind them to {key}."


def _refused(context: AcsContext, form: AcsForm, rejection: SignInRejected, *, seen: ResponseSeen | None,
             is_test: bool, against: str = "") -> AcsTestDone | AcsRefused:
    keep_body = context.keep_refused_body()
    xml = "" if not keep_body else seen.xml if seen is not None else decoded_for_display(
        form.saml_response, max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES)
    attempt = _record(context, outcome=SignInAttempt.Outcome.FAILURE, code=rejection.code, message=rejection.detail,
                      seen=seen, is_test=is_test, response_xml=xml, body_dropped=not keep_body,
                      test_claims={"against": against} if against else None)
    if is_test:
        return AcsTestDone(reference=attempt.reference, answered_request=None)
    return AcsRefused(code=rejection.code, reference=attempt.reference, status=http_status(rejection.code))


def _record(context: AcsContext, *, outcome: str, code: str, message: str, seen: ResponseSeen | None,
            is_test: bool, email: str = "", response_xml: str = "", body_dropped: bool = False,
            test_claims: dict[str, object] | None = None) -> SignInAttempt:
    in_response_to = (seen.in_response_to if seen else None) or ""
    return sign_in_attempt_record(
        tenant=context.tenant, outcome=outcome, code=code, message=message, email=email, is_test=is_test,
        idp_initiated=not in_response_to, issuer=(seen.issuer if seen else None) or "",
        in_response_to=in_response_to, response_xml=response_xml, host=context.client.host,
        remote_addr=context.client.remote_addr, user_agent=context.client.user_agent, body_dropped=body_dropped,
        test_claims=test_claims,
    )
