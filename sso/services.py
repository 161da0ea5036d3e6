"""SSO operations: configuring a tenant's IdP, refreshing its metadata, recording sign-in attempts."""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from provisioning.errors import NotAllowed
from provisioning.models import AccessLevel
from provisioning.services import access_grant_check
from sso.errors import SsoConfigError, SsoConfigNeedsConfirm
from sso.metadata import (
    MetadataError,
    certificate_check_current,
    certificate_parse,
    display_name_from_entity_id,
    idp_metadata_fetch,
    idp_metadata_parse,
)
from sso.models import IdentityProvider, IdpCertificate, SignInAttempt, StagedConnection
from sso.sp import sp_endpoints
from sso.types import CertificateInfo, ConfigErrorCode, ConnectionWarning, ConnectionWarningCode
from tenants.errors import TenantError
from tenants.models import Tenant
from tenants.services import actor_label, audit_record, tenant_email_domains_add
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
    email_domains: Iterable[str], email_domains_verified: bool = False, keep_previous: bool = True,
) -> IdentityProvider:
    """Apply straight to the live connection (operators' CLI, metadata refresh), in one transaction:
    the IdP row, its certificates, the email domains and the audit record. The connection it replaces
    is kept for Roll back, as when a draft is activated.

    The domains are claims to verify, unless `email_domains_verified` (operators at the CLI)."""
    if tenant.is_public:
        raise SsoConfigError("The public site has no identity provider of its own.")
    try:
        with transaction.atomic():
            idp = IdentityProvider.objects.select_for_update().filter(tenant=tenant).first()
            before = None if idp is None else connection_summary_of_idp(idp)
            if idp is not None and keep_previous:
                _previous_keep(idp=idp, actor=actor)
            idp = _idp_apply(tenant=tenant, idp=idp, values=values, allow_idp_initiated=allow_idp_initiated)
            domains = list(email_domains)
            if domains:
                tenant_email_domains_add(tenant=tenant, domains=domains, actor=actor, verified=email_domains_verified)
            audit_record(
                actor=actor, action="sso.idp_configure", tenant=tenant, target=values.entity_id,
                data={
                    "source": values.source,
                    "previous": None if before is None else {"entity_id": before["identifier"],
                                                             "sso_url": before["login_url"]},
                    "sso_url": values.sso_url,
                    "certificates": [c.sha256_fingerprint for c in values.certificates],
                    "email_domains": domains,
                    "changes": connection_changes(before, connection_summary_of_idp(idp)),
                },
            )
    except TenantError as exc:
        raise SsoConfigError(str(exc), code=ConfigErrorCode.email_domain, field="email_domains") from exc
    return idp


def _idp_apply(
    *, tenant: Tenant, idp: IdentityProvider | None, values: _IdpValues, allow_idp_initiated: bool | None = None,
) -> IdentityProvider:
    """Make `values` the live connection (call inside a transaction, the row locked)."""
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
    # The version keys the per-process pysaml2 config cache (sso.conf): every change is seen at once.
    idp.version = (idp.version or 0) + 1
    idp.save()
    _certificates_replace(idp=idp, certificates=values.certificates)
    idp._prefetched_objects_cache = {}  # type: ignore[attr-defined]
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


def _values_manual(
    *, sso_url: str, entity_id: str, certificates: Sequence[str | bytes], display_name: str | None = None,
) -> _IdpValues:
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
    return _IdpValues(
        entity_id=entity_id, sso_url=sso_url, slo_url="",
        display_name=display_name or display_name_from_entity_id(entity_id) or "your identity provider",
        certificates=parsed, source=IdentityProvider.Source.MANUAL, display_name_chosen=display_name is not None,
    )


def idp_configure_manual(
    *, tenant: Tenant, sso_url: str, entity_id: str, certificates: Sequence[str | bytes], actor: Actor,
    display_name: str | None = None, allow_idp_initiated: bool | None = None, email_domains: Iterable[str] = (),
    email_domains_verified: bool = False,
) -> IdentityProvider:
    """Configure from an SSO URL, the IdP's entity ID and its Base64/PEM signing certificate(s)."""
    values = _values_manual(sso_url=sso_url, entity_id=entity_id, certificates=certificates,
                            display_name=display_name)
    return _idp_save(tenant=tenant, values=values, actor=actor, allow_idp_initiated=allow_idp_initiated,
                     email_domains=email_domains, email_domains_verified=email_domains_verified)


# --- Staged connections: a draft next to the live one, tested, activated, rolled back ----------------
#
# The live connection is the IdentityProvider row and stays the only one sign-ins use; a draft
# (StagedConnection kind=draft) is used by a test sign-in started against it and nothing else.
# Activating swaps the draft in and keeps what was live as kind=previous, which Roll back restores
# (and then keeps what it replaced, so Roll back undoes itself). Every change writes one audit row,
# with what changed, in the transaction that makes it: that is the history the settings page shows.

_MULTI_TENANT_HOSTS = ("login.microsoftonline.com", "login.windows.net", "sts.windows.net")


def connection_warnings(*, entity_id: str, sso_url: str, metadata_url: str = "",
                        certificates: Sequence[CertificateInfo], now: datetime | None = None,
                        ) -> list[ConnectionWarning]:
    """What looks wrong in a connection before it is saved; the likely mistakes need a confirm."""
    from urllib.parse import urlsplit

    now = now or timezone.now()
    found: list[ConnectionWarning] = []
    if "{tenantid}" in entity_id.lower():
        found.append(ConnectionWarning(
            ConnectionWarningCode.placeholder_entity_id,
            f"The Identifier {entity_id} contains the placeholder {{tenantid}}: no real sign-in is issued by it, "
            "so every sign-in would be refused. Download the Federation Metadata XML from your Portico "
            "application's SAML Certificates section in Entra, not the general one.", True))
    for url in (sso_url, metadata_url):
        parts = urlsplit(url or "")
        segments = [segment.lower() for segment in parts.path.split("/") if segment]
        if (parts.hostname or "").lower() in _MULTI_TENANT_HOSTS and segments[:1] in (
                ["common"], ["organizations"], ["consumers"]):
            found.append(ConnectionWarning(
                ConnectionWarningCode.multi_tenant_document,
                f"{url} is Entra's multi-tenant \"{segments[0]}\" endpoint, not your directory's: "
                "use the App Federation Metadata Url of your Portico application, which names your tenant ID.",
                True))
            break
    if urlsplit(sso_url).scheme.lower() == "http":
        found.append(ConnectionWarning(
            ConnectionWarningCode.plain_http,
            f"The Login URL {sso_url} is plain http: sign-in requests would travel unencrypted. "
            "Identity providers use https.",
            # Where plain-http and private addresses are allowed (development, the local test IdP) it
            # is expected; elsewhere it is a likely mistake.
            not settings.PORTICO_METADATA_ALLOW_PRIVATE))
    horizon = now + timedelta(days=settings.PORTICO_CERT_EXPIRY_WARNING_DAYS)
    # An expired certificate never gets this far: metadata import drops it and manual entry refuses it.
    for cert in certificates:
        if cert.not_after <= horizon and not any(other.not_after > horizon for other in certificates):
            found.append(ConnectionWarning(
                ConnectionWarningCode.certificate_expiring,
                f"The signing certificate {cert.sha1_thumbprint or cert.sha256_fingerprint} expires on "
                f"{cert.not_after:%Y-%m-%d}, within {settings.PORTICO_CERT_EXPIRY_WARNING_DAYS} days: "
                "create its successor in your identity provider soon.", False))
            break
    return found


def connection_summary(*, entity_id: str, sso_url: str, display_name: str, certificate_pems: Sequence[str],
                       ) -> dict[str, object]:
    """What the history compares: entity ID, SSO URL, button label, certificate thumbprints (SHA-1,
    as Entra's SAML Certificates pane shows them). Keys as the audit log words them."""
    return {
        "identifier": entity_id, "login_url": sso_url, "button_label": display_name,
        "certificate_thumbprints": sorted(certificate_parse(pem).sha1_thumbprint for pem in certificate_pems),
    }


def connection_summary_of_idp(idp: IdentityProvider) -> dict[str, object]:
    return connection_summary(entity_id=idp.entity_id, sso_url=idp.sso_url, display_name=idp.display_name,
                              certificate_pems=[c.pem for c in idp.certificates.all()])


def connection_summary_of_staged(staged: StagedConnection) -> dict[str, object]:
    return connection_summary(entity_id=staged.entity_id, sso_url=staged.sso_url,
                              display_name=staged.display_name, certificate_pems=staged.certificate_pems)


def connection_changes(before: dict[str, object] | None, after: dict[str, object]) -> dict[str, list[object]]:
    """{field: [old, new]} for each field that differs (all of them, old None, for a first connection):
    the audit log's "changes" shape (provisioning.selectors.change_words)."""
    return {key: [None if before is None else before.get(key), value]
            for key, value in after.items() if before is None or before.get(key) != value}


def _values_of_staged(staged: StagedConnection) -> _IdpValues:
    return _IdpValues(
        entity_id=staged.entity_id, sso_url=staged.sso_url, slo_url=staged.slo_url,
        display_name=staged.display_name, display_name_chosen=staged.display_name_chosen,
        certificates=[certificate_parse(pem) for pem in staged.certificate_pems], source=staged.source,
        metadata_xml=staged.metadata_xml, metadata_url=staged.metadata_url,
    )


def _staged_fields_from_values(values: _IdpValues) -> dict[str, object]:
    return {
        "entity_id": values.entity_id, "sso_url": values.sso_url, "slo_url": values.slo_url,
        "display_name": values.display_name[:100], "display_name_chosen": values.display_name_chosen,
        "source": values.source, "metadata_xml": values.metadata_xml, "metadata_url": values.metadata_url,
        "certificate_pems": [c.pem for c in values.certificates],
    }


def _previous_keep(*, idp: IdentityProvider, actor: Actor) -> StagedConnection:
    """Keep the live connection as the one Roll back restores (replacing any older one)."""
    fields = {
        "entity_id": idp.entity_id, "sso_url": idp.sso_url, "slo_url": idp.slo_url,
        "display_name": idp.display_name, "display_name_chosen": True, "source": idp.source,
        "metadata_xml": idp.metadata_xml, "metadata_url": idp.metadata_url,
        "certificate_pems": [c.pem for c in idp.certificates.all()],
        "warnings": [], "tested_version": None, "tested_at": None, "tested_reference": "",
        "saved_by": actor_label(actor),
    }
    previous, _ = StagedConnection.objects.update_or_create(
        tenant=idp.tenant, kind=StagedConnection.Kind.PREVIOUS, defaults=fields)
    return previous


def _draft_save(*, tenant: Tenant, values: _IdpValues, actor: Actor, confirm: bool) -> StagedConnection:
    if tenant.is_public:
        raise SsoConfigError("The public site has no identity provider of its own.")
    warnings = connection_warnings(entity_id=values.entity_id, sso_url=values.sso_url,
                                   metadata_url=values.metadata_url, certificates=values.certificates)
    if not confirm and any(w.needs_confirm for w in warnings):
        raise SsoConfigNeedsConfirm(warnings)
    with transaction.atomic():
        live = IdentityProvider.objects.select_for_update().filter(tenant=tenant).first()
        draft = StagedConnection.objects.select_for_update().filter(
            tenant=tenant, kind=StagedConnection.Kind.DRAFT).first()
        if draft is None:
            draft = StagedConnection(tenant=tenant, kind=StagedConnection.Kind.DRAFT, version=0)
        if live is not None and not values.display_name_chosen:
            # The button label is the admin's: a draft suggests one only for a first connection.
            values = replace(values, display_name=live.display_name)
        for key, value in _staged_fields_from_values(values).items():
            setattr(draft, key, value)
        draft.warnings = [w.as_dict() for w in warnings]
        draft.version = (draft.version or 0) + 1
        draft.tested_version, draft.tested_at, draft.tested_reference = None, None, ""
        draft.saved_by = actor_label(actor)
        draft.save()
        audit_record(actor=actor, action="sso.draft_save", tenant=tenant, target=values.entity_id, data={
            "source": values.source, "draft_version": draft.version,
            "warnings": [str(w.code) for w in warnings],
            "changes": connection_changes(None if live is None else connection_summary_of_idp(live),
                                          connection_summary_of_staged(draft)),
        })
    return draft


def idp_draft_from_metadata(*, tenant: Tenant, document: bytes | str, actor: Actor,
                            confirm: bool = False) -> StagedConnection:
    """A draft from an uploaded Federation Metadata XML; raises SsoConfigNeedsConfirm on a likely mistake."""
    values = _values_from_metadata(document, source=IdentityProvider.Source.UPLOAD)
    return _draft_save(tenant=tenant, values=values, actor=actor, confirm=confirm)


def idp_draft_from_url(*, tenant: Tenant, url: str, actor: Actor, confirm: bool = False) -> StagedConnection:
    """A draft from a metadata URL (refreshed daily once it is live)."""
    values = _values_from_metadata(metadata_download(url), source=IdentityProvider.Source.URL, metadata_url=url)
    return _draft_save(tenant=tenant, values=values, actor=actor, confirm=confirm)


def idp_draft_manual(*, tenant: Tenant, sso_url: str, entity_id: str, certificates: Sequence[str | bytes], actor: Actor,
                     display_name: str | None = None, confirm: bool = False) -> StagedConnection:
    """A draft from an SSO URL, the IdP's entity ID and its signing certificate(s)."""
    values = _values_manual(sso_url=sso_url, entity_id=entity_id, certificates=certificates,
                            display_name=display_name)
    return _draft_save(tenant=tenant, values=values, actor=actor, confirm=confirm)


def idp_draft_tested(*, tenant: Tenant, draft_version: int, reference: str) -> bool:
    """Stamp the draft tested by a successful test sign-in, if it is still the version tested."""
    return bool(StagedConnection.objects.filter(
        tenant=tenant, kind=StagedConnection.Kind.DRAFT, version=draft_version,
    ).update(tested_version=draft_version, tested_at=timezone.now(), tested_reference=reference))


def idp_draft_discard(*, tenant: Tenant, actor: Actor) -> bool:
    with transaction.atomic():
        draft = StagedConnection.objects.select_for_update().filter(
            tenant=tenant, kind=StagedConnection.Kind.DRAFT).first()
        if draft is None:
            return False
        audit_record(actor=actor, action="sso.draft_discard", tenant=tenant, target=draft.entity_id,
                     data={"draft_version": draft.version})
        draft.delete()
    return True


def idp_draft_activate(*, tenant: Tenant, actor: Actor, untested: bool = False) -> IdentityProvider:
    """Make the draft the live connection and keep the live one for Roll back.

    Only a draft whose current version passed a test sign-in, unless `untested` (operators' CLI).
    """
    with transaction.atomic():
        live = IdentityProvider.objects.select_for_update().filter(tenant=tenant).first()
        draft = StagedConnection.objects.select_for_update().filter(
            tenant=tenant, kind=StagedConnection.Kind.DRAFT).first()
        if draft is None:
            raise SsoConfigError("There is no draft connection to activate.", field="draft")
        if not untested and not draft.tested:
            raise SsoConfigError("Run Test sign-in on the draft first: a draft becomes live only after a "
                                 "successful test sign-in against it.", field="draft")
        before = None if live is None else connection_summary_of_idp(live)
        if live is not None:
            _previous_keep(idp=live, actor=actor)
        idp = _idp_apply(tenant=tenant, idp=live, values=_values_of_staged(draft))
        audit_record(actor=actor, action="sso.idp_activate", tenant=tenant, target=idp.entity_id, data={
            "source": idp.source, "draft_version": draft.version, "tested_reference": draft.tested_reference,
            "untested": untested and not draft.tested,
            "changes": connection_changes(before, connection_summary_of_idp(idp)),
        })
        draft.delete()
    return idp


def idp_rollback(*, tenant: Tenant, actor: Actor) -> IdentityProvider:
    """Restore the previous live connection; the one it replaces becomes the previous (so this undoes itself)."""
    with transaction.atomic():
        live = IdentityProvider.objects.select_for_update().filter(tenant=tenant).first()
        previous = StagedConnection.objects.select_for_update().filter(
            tenant=tenant, kind=StagedConnection.Kind.PREVIOUS).first()
        if live is None or previous is None:
            raise SsoConfigError("There is no previous connection to restore.", field="previous")
        values = _values_of_staged(previous)
        before = connection_summary_of_idp(live)
        _previous_keep(idp=live, actor=actor)
        idp = _idp_apply(tenant=tenant, idp=live, values=values)
        audit_record(actor=actor, action="sso.idp_rollback", tenant=tenant, target=idp.entity_id, data={
            "source": idp.source, "changes": connection_changes(before, connection_summary_of_idp(idp)),
        })
    return idp


def _group_levels_check(*, actor: Actor, mapping: dict[str, str]) -> None:
    """A groups → access level mapping grants at every sign-in, so writing one is a grant: the
    rules of provisioning.services.access_grant_check (never Support, never above the writer's own)."""
    for group, text in mapping.items():
        level = AccessLevel.parse(str(text))
        if level is None:
            raise SsoConfigError(f"{group}: {text!r} is not an access level.", field="group_access_levels")
        try:
            access_grant_check(actor=actor, access_level=level, mapping=True)
        except NotAllowed as exc:
            raise SsoConfigError(f"{group} = {level.value}: {exc}", field="group_access_levels") from exc


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
    if group_access_levels is not None and "group_access_levels" in changes:
        _group_levels_check(actor=actor, mapping=group_access_levels)
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
    # The same connection, refreshed: Roll back keeps meaning "the connection before this one".
    _idp_save(tenant=idp.tenant, values=values, actor="system:metadata-refresh", allow_idp_initiated=None,
              email_domains=(), keep_previous=False)
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
    test_claims: dict[str, object] | None = None,
) -> SignInAttempt:
    """Record a sign-in (and log it with the reference code the user sees) and update the IdP's health."""
    attempt = SignInAttempt.objects.create(
        tenant=tenant if tenant is not None and not tenant.is_public else None,
        reference=sign_in_reference(), outcome=outcome, code=code, message=_storable(message, 4000),
        email=_storable(email, 254), is_test=is_test, idp_initiated=idp_initiated, host=_storable(host, 253),
        issuer=_storable(issuer, 1024), in_response_to=_storable(in_response_to, 256),
        response_xml=_storable(response_xml, 262144), remote_addr=remote_addr, user_agent=_storable(user_agent, 300),
        body_dropped=body_dropped, test_claims=test_claims or {},
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
