"""Reads for the SSO pages, admin and tasks: a tenant's IdP, sign-in attempts, certificate health,
and email-first discovery."""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from lxml import etree

from provisioning.selectors import audit_data_words, member_can_manage_team, property_names
from sso.diagnosis import admin_headline
from sso.metadata import certificate_thumbprint_sha1
from sso.models import IdentityProvider, IdpCertificate, SignInAttempt, StagedConnection
from sso.sp import LOGIN_PATH, sp_endpoints
from sso.xmlsafe import hardened_parser
from tenants.audit import AUDIT_ACTION_GROUPS, audit_action_phrase
from tenants.models import AuditEvent, Tenant
from tenants.selectors import tenant_for_email


def idp_for_tenant(*, tenant: Tenant) -> IdentityProvider | None:
    return (
        IdentityProvider.objects.filter(tenant=tenant).select_related("tenant").prefetch_related("certificates").first()
    )


def idp_draft_for_tenant(*, tenant: Tenant) -> StagedConnection | None:
    """The tenant's draft connection (saved, not live), if any."""
    return (StagedConnection.objects.filter(tenant=tenant, kind=StagedConnection.Kind.DRAFT)
            .select_related("tenant").first())


def idp_previous_for_tenant(*, tenant: Tenant) -> StagedConnection | None:
    """The connection that was live before the current one: what Roll back restores."""
    return StagedConnection.objects.filter(tenant=tenant, kind=StagedConnection.Kind.PREVIOUS).first()


@dataclass(frozen=True)
class StagedCertificate:
    subject: str
    sha1_thumbprint: str
    sha256_fingerprint: str
    not_after: datetime
    state: str  # as CertificateStatus.state


def staged_certificates(*, staged: StagedConnection, now: datetime | None = None) -> list[StagedCertificate]:
    from sso.metadata import certificate_parse

    now = now or timezone.now()
    horizon = now + timedelta(days=settings.PORTICO_CERT_EXPIRY_WARNING_DAYS)
    out = []
    for pem in staged.certificate_pems:
        cert = certificate_parse(pem)
        state = "expired" if cert.not_after <= now else "expiring" if cert.not_after <= horizon else "ok"
        out.append(StagedCertificate(subject=cert.subject, sha1_thumbprint=cert.sha1_thumbprint,
                                     sha256_fingerprint=cert.sha256_fingerprint, not_after=cert.not_after,
                                     state=state))
    return out


CONNECTION_ACTIONS = ("sso.idp_configure", "sso.draft_save", "sso.draft_discard", "sso.idp_activate",
                      "sso.idp_rollback")
_CHANGE_LABELS = {"identifier": "Identifier", "login_url": "Login URL", "button_label": "Button label",
                  "certificate_thumbprints": "Certificate thumbprints"}


@dataclass(frozen=True)
class ConnectionChange:
    when: datetime
    who: str
    what: str  # the action in words
    changes: list[tuple[str, str, str]]  # (label, from, to), certificates as SHA-1 thumbprints


def _change_words(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def connection_history(*, tenant: Tenant, limit: int = 20) -> list[ConnectionChange]:
    """Each change of the tenant's IdP connection, newest first, from the audit rows written with it."""
    rows = (AuditEvent.objects.filter(tenant=tenant, action__in=CONNECTION_ACTIONS)
            .order_by("-created", "-id")[:limit])
    history = []
    for event in rows:
        changes = event.data.get("changes") or {}
        history.append(ConnectionChange(
            when=event.created, who=event.actor.split(":", 1)[-1], what=audit_action_phrase(event.action),
            changes=[(_CHANGE_LABELS[key], _change_words(change[0]), _change_words(change[1]))
                     for key, change in changes.items()
                     if key in _CHANGE_LABELS and isinstance(change, list) and len(change) == 2],
        ))
    return history


def sign_in_attempts_recent(*, tenant: Tenant, limit: int = 20) -> list[SignInAttempt]:
    # The decoded XML can be large; the list never shows it.
    return list(SignInAttempt.objects.filter(tenant=tenant).defer("response_xml").order_by("-created")[:limit])


def attempt_for_tenant(*, tenant: Tenant, reference: str) -> SignInAttempt | None:
    """One of this tenant's attempts; another tenant's reference is simply not found."""
    return SignInAttempt.objects.filter(tenant=tenant, reference=(reference or "").strip().upper()).first()


def can_manage_sso(user: User | AnonymousUser) -> bool:
    """A tenant user who may see and change the tenant's SSO settings: the same people who manage
    the team (active Client Administrators, and Support). Call it in the tenant's schema."""
    return isinstance(user, User) and member_can_manage_team(user=user)


# --- Certificates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateStatus:
    certificate: IdpCertificate
    state: str  # "expired", "not_yet_valid", "expiring", "ok"
    days_left: int  # whole days until not_after (negative once expired)
    sha1_thumbprint: str = ""  # what Entra's SAML Certificates pane calls "Thumbprint"

    @property
    def badge(self) -> str:
        return {"expired": "bad", "expiring": "warn", "not_yet_valid": "warn"}.get(self.state, "ok")

    @property
    def label(self) -> str:
        if self.state == "expired":
            return "Expired"
        if self.state == "not_yet_valid":
            return f"Valid from {self.certificate.not_before:%Y-%m-%d}"
        if self.days_left == 0:
            return "Expires today"
        if self.state == "expiring":
            return f"Expires in {self.days_left} day{'' if self.days_left == 1 else 's'}"
        return f"Valid for {self.days_left} days"


def certificate_status(*, certificate: IdpCertificate, now: datetime | None = None) -> CertificateStatus:
    now = now or timezone.now()
    days_left = (certificate.not_after - now) // timedelta(days=1)
    if certificate.not_after <= now:
        state = "expired"
    elif certificate.not_before > now:
        state = "not_yet_valid"
    elif certificate.not_after <= now + timedelta(days=settings.PORTICO_CERT_EXPIRY_WARNING_DAYS):
        state = "expiring"
    else:
        state = "ok"
    return CertificateStatus(certificate=certificate, state=state, days_left=days_left,
                             sha1_thumbprint=certificate_thumbprint_sha1(certificate.pem))


def certificate_statuses(*, idp: IdentityProvider, now: datetime | None = None) -> list[CertificateStatus]:
    return [certificate_status(certificate=cert, now=now) for cert in idp.certificates.all()]


def certificate_warning(*, idp: IdentityProvider, now: datetime | None = None) -> str:
    """One sentence for the top of the settings page, or "" when every certificate is comfortably valid.

    Only worth shouting about when no certificate outlives the warning horizon: during a rotation the
    old one expiring while the new one is in place is the plan, not a problem.
    """
    statuses = certificate_statuses(idp=idp, now=now)
    if not statuses or any(s.state == "ok" for s in statuses):
        return ""
    usable = [s for s in statuses if s.state == "expiring"]
    if usable:
        soonest = min(usable, key=lambda s: s.certificate.not_after)
        return (
            f"Your identity provider's signing certificate expires on {soonest.certificate.not_after:%Y-%m-%d}. "
            "Create a new certificate in your identity provider, then upload its new metadata (or paste the "
            "new certificate) here before your identity provider switches to it, or sign-in stops working then."
        )
    if any(s.state == "expired" for s in statuses):
        return ("Every signing certificate Portico has for your identity provider has expired. Sign-in still works "
                "while the identity provider signs with one of them (Portico trusts the certificate you configured, "
                "not its dates), but upload current metadata or paste the current certificate now: once the "
                "identity provider switches certificates, sign-in stops working until Portico has the new one.")
    return ""


def certificates_to_warn(*, now: datetime | None = None) -> QuerySet[IdpCertificate]:
    """Certificates inside the warning horizon whose tenant has not been told yet.

    A certificate whose IdP already has a successor that outlives the horizon is left alone: that is a
    rotation going to plan. Should the successor be removed again, the warning still goes out.
    """
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.PORTICO_CERT_EXPIRY_WARNING_DAYS)
    successor = IdpCertificate.objects.filter(idp=OuterRef("idp"), not_after__gt=horizon)
    return (
        IdpCertificate.objects.filter(expiry_warning_sent_at__isnull=True, not_after__lte=horizon)
        .exclude(Exists(successor))
        .select_related("idp__tenant")
        .order_by("not_after")
    )


def idps_to_refresh() -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.filter(source=IdentityProvider.Source.URL).exclude(metadata_url="")


# --- Diagnostics ----------------------------------------------------------------------------------


def response_xml_readable(xml: str) -> str:
    """The stored SAML response indented for reading, or unchanged when it is not safe to parse.

    Comments are kept: a comment inside a NameID is exactly what an admin may need to see.
    """
    if not xml or "<!" in xml.replace("<!--", ""):  # DOCTYPE, ENTITY, CDATA: show as received
        return xml
    parser = hardened_parser(keep_comments=True, remove_blank_text=True)
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return xml
    return etree.tostring(root, encoding="unicode", pretty_print=True)


# --- Email-first discovery ------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """What the sign-in page should offer for an email address.

    outcome: "sso" (show the button), "not_configured" (the tenant has no working IdP yet),
    "unknown" (no tenant signs in this domain), "other_tenant" (a tenant host, another tenant's domain),
    "suspended".
    """

    outcome: str
    domain: str
    tenant: Tenant | None = None
    idp: IdentityProvider | None = None
    login_url: str = ""

    @property
    def button_label(self) -> str:
        return f"Log In with {self.idp.display_name}" if self.idp else ""


def email_domain_of(email: str) -> str:
    return (email or "").strip().rsplit("@", 1)[-1].lower().rstrip(".")


def sso_discovery(
    *, email: str, next_path: str, current_tenant: Tenant | None = None, current_host: str | None = None,
    scheme: str | None = None,
) -> Discovery:
    """Which tenant signs in `email`, and where its SP-initiated sign-in starts.

    On a tenant host (`current_tenant`) only that tenant's domains count and the button stays on the
    host the user is on (its session cookie lives there); from the central host the button goes to
    the tenant's primary host. `next_path` must already be sanitised.
    """
    domain = email_domain_of(email)
    tenant = tenant_for_email(email=email)
    if tenant is None or tenant.is_public:
        return Discovery(outcome="unknown", domain=domain)
    if current_tenant is not None and tenant.pk != current_tenant.pk:
        return Discovery(outcome="other_tenant", domain=domain)
    if tenant.status != Tenant.Status.ACTIVE:
        return Discovery(outcome="suspended", domain=domain, tenant=tenant)
    idp = IdentityProvider.objects.filter(tenant=tenant).first()
    if idp is None or not idp.certificates.exists():
        return Discovery(outcome="not_configured", domain=domain, tenant=tenant)
    host = current_host if current_tenant is not None and current_host else tenant.primary_host
    if not host:
        return Discovery(outcome="not_configured", domain=domain, tenant=tenant)
    base = sp_endpoints(host=host, scheme=scheme).base_url
    # The typed address rides along to /sso/login/, which passes it to the IdP as login_hint.
    login_url = f"{base}{LOGIN_PATH}?{urlencode({'next': next_path, 'login_hint': email.strip().lower()})}"
    return Discovery(outcome="sso", domain=domain, tenant=tenant, idp=idp, login_url=login_url)


# --- The tenant admins' audit log ----------------------------------------------------------------

AUDIT_LOG_KINDS: dict[str, str] = {
    "": "Everything",
    "sign_in": "Sign-ins",
    "refusal": "Refused sign-ins",
    "sso": "Single sign-on changes",
    "access": "Access given and removed",
    "requests": "New User requests",
}


@dataclass(frozen=True)
class AuditLogEntry:
    when: datetime
    kind: str  # a key of AUDIT_LOG_KINDS
    what: str  # in words
    who: str  # who acted
    person: str  # whose access or sign-in it was about
    detail: str
    reference: str = ""  # a sign-in's reference code


def _audit_entry(event: AuditEvent, *, property_names: dict[str, str]) -> AuditLogEntry:
    kind = next((k for k, prefixes in AUDIT_ACTION_GROUPS.items() if event.action.startswith(prefixes)), "access")
    return AuditLogEntry(when=event.created, kind=kind, what=audit_action_phrase(event.action),
                         who=event.actor.split(":", 1)[-1], person=event.target,
                         detail=audit_data_words(event.data, property_names=property_names))


def _attempt_entry(attempt: SignInAttempt) -> AuditLogEntry:
    ok = attempt.outcome == SignInAttempt.Outcome.SUCCESS
    what = ("Test sign-in" if attempt.is_test else "Signed in") if ok else (
        "Test sign-in refused" if attempt.is_test else "Sign-in refused")
    return AuditLogEntry(when=attempt.created, kind="sign_in" if ok else "refusal", what=what,
                         who=attempt.email or "unknown", person=attempt.email,
                         detail="" if ok else admin_headline(attempt.code), reference=attempt.reference)


def tenant_audit_log(*, tenant: Tenant, kind: str = "", search: str = "", limit: int) -> tuple[list[AuditLogEntry], int]:
    """This tenant's history, newest first: its audit records and its sign-in attempts, merged.

    Returns the first `limit` entries and how many there are in all. Only rows of `tenant`, ever.
    """
    events = AuditEvent.objects.filter(tenant=tenant)
    attempts = SignInAttempt.objects.filter(tenant=tenant).defer("response_xml")
    if kind in AUDIT_ACTION_GROUPS:
        q = Q()
        for prefix in AUDIT_ACTION_GROUPS[kind]:
            q |= Q(action__startswith=prefix)
        events, attempts = events.filter(q), attempts.none()
    elif kind in ("sign_in", "refusal"):
        outcome = SignInAttempt.Outcome.SUCCESS if kind == "sign_in" else SignInAttempt.Outcome.FAILURE
        events, attempts = events.none(), attempts.filter(outcome=outcome)
    search = (search or "").strip()
    if search:
        events = events.filter(Q(target__icontains=search) | Q(actor__icontains=search))
        attempts = attempts.filter(email__icontains=search)
    total = events.count() + attempts.count()
    names = property_names()
    merged = heapq.merge(
        (_audit_entry(e, property_names=names) for e in events.order_by("-created", "-id")[:limit]),
        (_attempt_entry(a) for a in attempts.order_by("-created", "-id")[:limit]),
        key=lambda entry: entry.when, reverse=True,
    )
    return list(itertools.islice(merged, limit)), total
