"""SSO operations: configuring a tenant's IdP, refreshing its metadata, recording sign-in attempts."""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sso.errors import SsoConfigError
from sso.metadata import (
    MetadataError,
    certificate_check_current,
    certificate_parse,
    display_name_from_entity_id,
    idp_metadata_fetch,
    idp_metadata_parse,
)
from sso.models import IdentityProvider, IdpCertificate, SignInAttempt
from sso.sp import sp_endpoints
from sso.types import CertificateInfo, ConfigErrorCode
from tenants.errors import TenantError
from tenants.models import Tenant
from tenants.services import audit_record, tenant_email_domains_add
from tenants.types import Actor

logger = logging.getLogger("portico.sso")


@dataclass(frozen=True)
class _IdpValues:
    entity_id: str
    sso_url: str
    slo_url: str
    # Only a suggestion (from the metadata or the entity ID) unless `display_name_chosen`: the button
    # label is the admin's, so re-configuration keeps the one already there.
    display_name: str
    certificates: Sequence[CertificateInfo]
    source: str
    metadata_xml: str = ""
    metadata_url: str = ""
    display_name_chosen: bool = False


def _idp_save(
    *, tenant: Tenant, values: _IdpValues, actor: Actor, allow_idp_initiated: bool | None,
    email_domains: Iterable[str], email_domains_verified: bool = False,
) -> IdentityProvider:
    """One transaction: the IdP row, its certificates, the email domains and the audit record.

    The domains are claims to verify, unless `email_domains_verified` (operators at the CLI)."""
    if tenant.is_public:
        raise SsoConfigError("The public site has no identity provider of its own.")
    try:
        with transaction.atomic():
            idp = IdentityProvider.objects.select_for_update().filter(tenant=tenant).first()
            previous = None if idp is None else {"entity_id": idp.entity_id, "sso_url": idp.sso_url}
            idp = idp or IdentityProvider(tenant=tenant)
            idp.entity_id = values.entity_id
            idp.sso_url = values.sso_url
            idp.slo_url = values.slo_url
            if idp.pk is None or values.display_name_chosen:
                idp.display_name = values.display_name
            idp.source = values.source
            idp.metadata_xml = values.metadata_xml
            idp.metadata_url = values.metadata_url
            idp.metadata_fetched_at = timezone.now() if values.metadata_url else None
            idp.metadata_refresh_error = ""
            idp.metadata_refresh_failed_at = None
            if allow_idp_initiated is not None:
                idp.allow_idp_initiated = allow_idp_initiated
            idp.version = (idp.version or 0) + 1
            idp.save()
            _certificates_replace(idp=idp, certificates=values.certificates)
            domains = list(email_domains)
            if domains:
                tenant_email_domains_add(tenant=tenant, domains=domains, actor=actor, verified=email_domains_verified)
            audit_record(
                actor=actor, action="sso.idp_configure", tenant=tenant, target=values.entity_id,
                data={
                    "source": values.source, "previous": previous, "sso_url": values.sso_url,
                    "certificates": [c.sha256_fingerprint for c in values.certificates],
                    "email_domains": domains,
                },
            )
    except TenantError as exc:
        raise SsoConfigError(str(exc), code=ConfigErrorCode.email_domain, field="email_domains") from exc
    return idp


def _certificates_replace(*, idp: IdentityProvider, certificates: Sequence[CertificateInfo]) -> None:
    keep = {c.sha256_fingerprint for c in certificates}
    idp.certificates.exclude(fingerprint_sha256__in=keep).delete()
    for cert in certificates:
        IdpCertificate.objects.update_or_create(
            idp=idp, fingerprint_sha256=cert.sha256_fingerprint,
            defaults={"pem": cert.pem, "subject": cert.subject[:500], "not_before": cert.not_before,
                      "not_after": cert.not_after},
        )


def _values_from_metadata(document: bytes | str, *, source: str, metadata_url: str = "") -> _IdpValues:
    try:
        parsed = idp_metadata_parse(document)
    except MetadataError as exc:
        raise SsoConfigError(str(exc), code=exc.code, field="metadata") from exc
    sso_url = parsed.sso_redirect_url or parsed.sso_post_url or ""
    return _IdpValues(
        entity_id=parsed.entity_id, sso_url=sso_url, slo_url=parsed.slo_url or "",
        display_name=parsed.display_name or "your identity provider", certificates=parsed.signing_certificates,
        source=source, metadata_xml=parsed.xml, metadata_url=metadata_url,
    )


def idp_configure_from_metadata(
    *, tenant: Tenant, document: bytes | str, actor: Actor, allow_idp_initiated: bool | None = None,
    email_domains: Iterable[str] = (), email_domains_verified: bool = False,
) -> IdentityProvider:
    """Configure from an uploaded Federation Metadata XML document."""
    values = _values_from_metadata(document, source=IdentityProvider.Source.UPLOAD)
    return _idp_save(tenant=tenant, values=values, actor=actor, allow_idp_initiated=allow_idp_initiated,
                     email_domains=email_domains, email_domains_verified=email_domains_verified)


def metadata_download(url: str) -> bytes:
    # Plain http lets anyone on the path swap the signing certificate; only development may use it.
    if not url.lower().startswith("https://") and not settings.PORTICO_METADATA_ALLOW_PRIVATE:
        raise SsoConfigError("The metadata URL must start with https://.", code=ConfigErrorCode.bad_url, field="metadata_url")
    try:
        return idp_metadata_fetch(url, allow_private=settings.PORTICO_METADATA_ALLOW_PRIVATE,
                                  timeout=settings.PORTICO_METADATA_FETCH_TIMEOUT_SECONDS)
    except MetadataError as exc:
        raise SsoConfigError(str(exc), code=exc.code, field="metadata_url") from exc


def idp_configure_from_url(
    *, tenant: Tenant, url: str, actor: Actor, allow_idp_initiated: bool | None = None,
    email_domains: Iterable[str] = (), email_domains_verified: bool = False,
) -> IdentityProvider:
    """Configure from a metadata URL; Celery beat refreshes it later (see sso.tasks)."""
    values = _values_from_metadata(metadata_download(url), source=IdentityProvider.Source.URL, metadata_url=url)
    return _idp_save(tenant=tenant, values=values, actor=actor, allow_idp_initiated=allow_idp_initiated,
                     email_domains=email_domains, email_domains_verified=email_domains_verified)


def idp_configure_manual(
    *, tenant: Tenant, sso_url: str, entity_id: str, certificates: Sequence[str | bytes], actor: Actor,
    display_name: str | None = None, allow_idp_initiated: bool | None = None, email_domains: Iterable[str] = (),
    email_domains_verified: bool = False,
) -> IdentityProvider:
    """Configure from an SSO URL, the IdP's entity ID and its Base64/PEM signing certificate(s)."""
    from urllib.parse import urlsplit

    sso_url, entity_id = (sso_url or "").strip(), (entity_id or "").strip()
    parts = urlsplit(sso_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SsoConfigError("The SSO URL must be a full https:// address (Entra calls it the Login URL).",
                             code=ConfigErrorCode.bad_url, field="sso_url")
    if parts.scheme == "http" and not settings.PORTICO_METADATA_ALLOW_PRIVATE:
        raise SsoConfigError("The SSO URL must use https://.", code=ConfigErrorCode.bad_url, field="sso_url")
    if not entity_id:
        raise SsoConfigError("Give the IdP's entity ID (Entra calls it the Microsoft Entra Identifier).",
                             code=ConfigErrorCode.no_entity_id, field="entity_id")
    parsed: list[CertificateInfo] = []
    try:
        for text in certificates:
            cert = certificate_parse(text)
            certificate_check_current(cert)
            parsed.append(cert)
    except MetadataError as exc:
        raise SsoConfigError(str(exc), code=exc.code, field="certificate") from exc
    if not parsed:
        raise SsoConfigError("Paste the IdP's signing certificate (Certificate (Base64) in Entra).",
                             code=ConfigErrorCode.no_signing_certificate, field="certificate")
    values = _IdpValues(
        entity_id=entity_id, sso_url=sso_url, slo_url="",
        display_name=display_name or display_name_from_entity_id(entity_id) or "your identity provider",
        certificates=parsed, source=IdentityProvider.Source.MANUAL, display_name_chosen=display_name is not None,
    )
    return _idp_save(tenant=tenant, values=values, actor=actor, allow_idp_initiated=allow_idp_initiated,
                     email_domains=email_domains, email_domains_verified=email_domains_verified)


def idp_options_update(
    *, idp: IdentityProvider, actor: Actor, allow_idp_initiated: bool | None = None,
    restrict_email_domains: bool | None = None, display_name: str | None = None,
    attribute_mapping: dict[str, list[str]] | None = None, group_access_levels: dict[str, str] | None = None,
) -> IdentityProvider:
    changes = {
        key: value for key, value in {
            "allow_idp_initiated": allow_idp_initiated, "restrict_email_domains": restrict_email_domains,
            "display_name": display_name, "attribute_mapping": attribute_mapping,
            "group_access_levels": group_access_levels,
        }.items() if value is not None and getattr(idp, key) != value
    }
    if not changes:
        return idp
    with transaction.atomic():
        for key, value in changes.items():
            setattr(idp, key, value)
        idp.version = F("version") + 1
        idp.save()
        idp.refresh_from_db()
        audit_record(actor=actor, action="sso.idp_options", tenant=idp.tenant, target=idp.entity_id, data=changes)
    return idp


def idp_metadata_refresh(*, idp: IdentityProvider) -> bool:
    """Fetch a URL-sourced IdP's metadata again; on any failure keep the last good copy and say why."""
    try:
        values = _values_from_metadata(metadata_download(idp.metadata_url), source=idp.source,
                                       metadata_url=idp.metadata_url)
    except SsoConfigError as exc:
        IdentityProvider.objects.filter(pk=idp.pk).update(
            metadata_refresh_error=str(exc), metadata_refresh_failed_at=timezone.now())
        logger.warning("metadata refresh failed for tenant %s: %s", idp.tenant.slug, exc)
        return False
    if values.metadata_xml == idp.metadata_xml:
        IdentityProvider.objects.filter(pk=idp.pk).update(
            metadata_fetched_at=timezone.now(), metadata_refresh_error="", metadata_refresh_failed_at=None)
        return True
    _idp_save(tenant=idp.tenant, values=values, actor="system:metadata-refresh", allow_idp_initiated=None,
              email_domains=())
    return True


HEALTH_STAMP_EVERY = timedelta(minutes=1)


def sign_in_reference() -> str:
    # Short enough to read over the phone, long enough not to collide (32^8).
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _storable(text: str, limit: int) -> str:
    """Attacker-supplied text as PostgreSQL can keep it: no NUL characters, within the column's length."""
    return text.replace("\x00", "\ufffd")[:limit]


def sign_in_attempt_record(
    *, tenant: Tenant | None, outcome: str, code: str, message: str = "", email: str = "", is_test: bool = False,
    idp_initiated: bool = False, host: str = "", issuer: str = "", in_response_to: str = "", response_xml: str = "",
    remote_addr: str | None = None, user_agent: str = "", body_dropped: bool = False,
) -> SignInAttempt:
    """Record a sign-in (and log it with the reference code the user sees) and update the IdP's health."""
    attempt = SignInAttempt.objects.create(
        tenant=tenant if tenant is not None and not tenant.is_public else None,
        reference=sign_in_reference(), outcome=outcome, code=code, message=_storable(message, 4000),
        email=_storable(email, 254), is_test=is_test, idp_initiated=idp_initiated, host=_storable(host, 253),
        issuer=_storable(issuer, 1024), in_response_to=_storable(in_response_to, 256),
        response_xml=_storable(response_xml, 262144), remote_addr=remote_addr, user_agent=_storable(user_agent, 300),
        body_dropped=body_dropped,
    )
    if attempt.tenant_id:
        field = "last_success_at" if outcome == SignInAttempt.Outcome.SUCCESS else "last_failure_at"
        # To the minute is enough for a health column, and every sign-in of a tenant writing its one
        # IdP row would queue them all on that row's lock; a row that is fresh enough matches nothing.
        stale = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": attempt.created - HEALTH_STAMP_EVERY})
        IdentityProvider.objects.filter(stale, tenant_id=attempt.tenant_id).update(**{field: attempt.created})
    log = logger.info if outcome == SignInAttempt.Outcome.SUCCESS else logger.warning
    log("sign-in %s ref=%s tenant=%s code=%s email=%s test=%s: %s", outcome, attempt.reference,
        getattr(tenant, "slug", "-"), code, email or "-", is_test, message)
    return attempt


def certificate_expiry_warn(*, certificate_id: int, now: datetime | None = None) -> bool:
    """Queue the warning and stamp the certificate in one transaction: at most one e-mail per certificate,
    however often or concurrently the task runs (the row lock, the stamp and the e-mail's dedupe key)."""
    from outbox.services import email_queue
    from provisioning.selectors import client_admin_emails
    from sso.selectors import certificate_status

    now = now or timezone.now()
    with transaction.atomic():
        certificate = (
            IdpCertificate.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("idp__tenant")
            .filter(pk=certificate_id, expiry_warning_sent_at__isnull=True)
            .first()
        )
        if certificate is None:
            return False
        idp = certificate.idp
        tenant = idp.tenant
        # Nobody to tell at the tenant yet: support staff get it instead, so it is not lost.
        recipients = client_admin_emails(tenant=tenant) or list(settings.PORTICO_SUPPORT_EMAILS)
        status = certificate_status(certificate=certificate, now=now)
        host = tenant.primary_host
        settings_url = f"{sp_endpoints(host=host).base_url}/sso/settings/" if host else ""
        expired = status.state == "expired"
        # Sign-in keeps working past the date (trust is the pinned certificate, sso.saml_guard); what
        # breaks it is the IdP rolling over to a certificate Portico lacks. The subject says no more.
        subject = (f"The signing certificate of {tenant.name}'s single sign-on {'expired' if expired else 'expires'} "
                   f"on {certificate.not_after:%Y-%m-%d}: renew it")
        email_queue(
            tenant=tenant, kind="sso.certificate_expiry", to=recipients, template="certificate_expiry",
            context={
                "subject": subject, "idp": idp, "certificate": certificate, "status": status, "expired": expired,
                "days_left": max(status.days_left, 0), "settings_url": settings_url,
                "refreshed_from_url": idp.source == IdentityProvider.Source.URL,
            },
            dedupe_key=f"sso.certificate_expiry:{certificate.pk}",
        )
        certificate.expiry_warning_sent_at = now
        certificate.save(update_fields=["expiry_warning_sent_at"])
    logger.info("certificate expiry warning queued for tenant %s, certificate %s (expires %s)",
                tenant.slug, certificate.fingerprint_sha256[:23], certificate.not_after.date())
    return True
