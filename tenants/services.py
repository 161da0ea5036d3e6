"""Tenant operations: creation, host names, email domains, audit records."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tenants.addresses import InvalidAddress, domain_canonical
from tenants.domain_verification import (
    DnsLookupFailed,
    portico_domain_of,
    public_email_domain_of,
    record_check,
    verification_record_name,
)
from tenants.errors import TenantError
from tenants.models import AuditEvent, Domain, EmailDomain, Tenant
from tenants.routing import routing_invalidate
from tenants.schema_template import schema_clone_from_template, template_ready
from tenants.selectors import email_domain_claims_superseded
from tenants.types import Actor, DomainCheck, EmailDomainRefusal

logger = logging.getLogger("portico.tenants")

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
RESERVED_SLUGS = frozenset({"public", "www", "admin", "api", "static", "sso", "idp", "mail", "support"})
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
MAX_PENDING_EMAIL_DOMAINS = 20


def actor_label(actor: Actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, User):
        prefix = "support" if getattr(actor, "is_staff", False) else "user"
        return f"{prefix}:{getattr(actor, 'email', '') or actor.get_username()}"
    return str(actor)


def audit_record(*, actor: Actor, action: str, tenant: Tenant | None = None, target: str = "", data: dict | None = None) -> AuditEvent:
    """Call inside the transaction that makes the change, so the record and the change stand or fall together."""
    return AuditEvent.objects.create(
        tenant=tenant if tenant is not None and not tenant.is_public else None,
        actor=actor_label(actor),
        action=action,
        target=target,
        data=data or {},
    )


def slug_validate(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise TenantError(
            f"Invalid slug {slug!r}: use 2–63 lowercase letters, digits and hyphens, starting with a letter."
        )
    if slug in RESERVED_SLUGS or slug.startswith("pg"):
        raise TenantError(f"Invalid slug {slug!r}: it is reserved.")
    return slug


def host_normalize(host: str) -> str:
    value = (host or "").strip().lower().rstrip(".")
    if ":" in value or "/" in value or not HOST_RE.match(value) or len(value) > 253:
        raise TenantError(f"Invalid host {host!r}: give a bare host name such as acme.portal.example.com.")
    return value


def email_domain_normalize(domain: str) -> str:
    value = (domain or "").strip().lstrip("@").rstrip(".")
    try:
        if "." not in value:
            raise TenantError("no dot")
        # IDNA A-labels, A-Z lower-cased only (tenants.addresses), as the ACS and discovery compare.
        return host_normalize(domain_canonical(value))
    except (TenantError, InvalidAddress) as exc:
        raise TenantError(f"Invalid email domain {domain!r}: give a domain such as acme.example.",
                          code=EmailDomainRefusal.invalid) from exc


def default_host(slug: str) -> str:
    return f"{slug}.{settings.PORTICO_BASE_DOMAIN}"


def _hosts_check_free(hosts: Iterable[str], *, tenant: Tenant | None = None) -> None:
    taken = Domain.objects.filter(domain__in=list(hosts))
    if tenant is not None:
        taken = taken.exclude(tenant=tenant)
    owner = taken.select_related("tenant").first()
    if owner:
        raise TenantError(f"Host {owner.domain} already belongs to tenant {owner.tenant.slug}.")


def _refuse(message: str, code: EmailDomainRefusal) -> TenantError:
    return TenantError(message, code=code)


def email_domain_claimable_check(*, domain: str, tenant: Tenant | None = None) -> None:
    """TenantError (with its reference) when no tenant, or not `tenant`, may hold `domain` (normalised).

    Refused: public mailbox providers, Portico's own domains, a domain another tenant holds verified,
    and a domain under one another tenant holds verified. A pending claim of another tenant blocks nothing.
    """
    provider = public_email_domain_of(domain)
    if provider:
        raise _refuse(f"{domain} is a public e-mail provider's domain ({provider}): anyone can have an address "
                      "there, so it can't route sign-ins to one organisation.", EmailDomainRefusal.webmail)
    own = portico_domain_of(domain)
    if own:
        raise _refuse(f"{domain} is Portico's own domain ({own}), not an organisation's email domain.",
                      EmailDomainRefusal.portico)
    others = EmailDomain.objects.filter(verified_at__isnull=False)
    if tenant is not None:
        others = others.exclude(tenant=tenant)
    labels = domain.split(".")
    parents = [".".join(labels[index:]) for index in range(1, len(labels) - 1)]
    for row in others.filter(domain__in=[domain, *parents]).order_by("-domain"):
        # Another organisation's name stays theirs: the message does not say which one.
        if row.domain == domain:
            raise _refuse(f"Email domain {domain} already signs in through another organisation on Portico.",
                          EmailDomainRefusal.taken)
        raise _refuse(f"{domain} is under {row.domain}, which another organisation on Portico has verified.",
                      EmailDomainRefusal.parent_taken)


def email_domains_check_claimable(domains: Iterable[str], *, tenant: Tenant | None = None) -> None:
    for domain in domains:
        email_domain_claimable_check(domain=domain, tenant=tenant)


def _verification_lock() -> None:
    # Verifications are rare; one lock for all of them keeps "one owner, no owner of a parent" true
    # against concurrent verifications of a domain and its sub-domain, which no index can express.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('portico.email_domain_verify'))")


def _claims_of_others_remove(*, row: EmailDomain, actor: Actor) -> list[str]:
    """Others' pending claims of the domain just verified, or under it, can never be verified: removed,
    each recorded in its tenant's audit log."""
    removed = []
    for claim in email_domain_claims_superseded(email_domain=row):
        audit_record(actor=actor, action="tenant.email_domain_claim_remove", tenant=claim.tenant,
                     target=claim.domain, data={"email_domain": claim.domain,
                                                "reason": "verified by another organisation"})
        removed.append(f"{claim.tenant.slug}:{claim.domain}")
        claim.delete()
    return removed


def email_domain_verified_mark(*, email_domain: EmailDomain, method: str, actor: Actor,
                               detail: str = "") -> EmailDomain:
    """Mark one claim verified (DNS record found, support staff, operator), in one transaction with its
    audit record; others' pending claims of it are removed. TenantError when another tenant holds it."""
    if method not in EmailDomain.Method.values:
        raise TenantError(f"Unknown verification method {method!r}.")
    try:
        with transaction.atomic():
            _verification_lock()
            row = EmailDomain.objects.select_for_update().select_related("tenant").filter(pk=email_domain.pk).first()
            if row is None:
                raise _refuse(f"{email_domain.domain} is no longer one of this organisation's email domains.",
                              EmailDomainRefusal.not_yours)
            if row.verified_at is not None:
                return row
            email_domain_claimable_check(domain=row.domain, tenant=row.tenant)
            row.verified_at = timezone.now()
            row.verified_method = method
            row.check_result = DomainCheck.verified if method == EmailDomain.Method.DNS else row.check_result
            row.save(update_fields=["verified_at", "verified_method", "check_result"])
            removed = _claims_of_others_remove(row=row, actor=actor)
            audit_record(actor=actor, action="tenant.email_domain_verify", tenant=row.tenant, target=row.domain,
                         data={"email_domain": row.domain, "method": method, "detail": detail,
                               "claims_removed": removed})
    except IntegrityError as exc:  # a concurrent verification by another tenant won
        raise _refuse(f"Email domain {email_domain.domain} already signs in through another organisation on "
                      "Portico.", EmailDomainRefusal.taken) from exc
    return row


def email_domain_dns_check(*, email_domain_id: int, actor: Actor) -> DomainCheck:
    """Look up a pending claim's TXT record and verify it when the record is there.

    Idempotent: an already verified or since removed claim is left as it is. The outcome is kept on
    the row (checked_at, check_result) for the admin's page; it is bookkeeping, not a change of who
    routes where, so only a verification writes an audit record.
    """
    row = EmailDomain.objects.select_related("tenant").filter(pk=email_domain_id).first()
    if row is None:
        return DomainCheck.gone
    if row.verified_at is not None:
        return DomainCheck.already_verified
    try:
        outcome = record_check(domain=row.domain, token=row.verification_token)
    except DnsLookupFailed as exc:
        logger.info("DNS lookup for %s failed: %s", row.domain, exc)
        outcome = DomainCheck.dns_error
    if outcome == DomainCheck.verified:
        try:
            email_domain_verified_mark(email_domain=row, method=EmailDomain.Method.DNS, actor=actor,
                                       detail=f"TXT {verification_record_name(row.domain)}")
        except TenantError as exc:
            if exc.code == EmailDomainRefusal.not_yours:
                return DomainCheck.gone
            outcome = DomainCheck.taken
        else:
            return DomainCheck.verified
    EmailDomain.objects.filter(pk=row.pk, verified_at__isnull=True).update(
        checked_at=timezone.now(), check_result=outcome)
    return outcome


def tenant_create(
    *,
    slug: str,
    name: str,
    hosts: Iterable[str] = (),
    email_domains: Iterable[str] = (),
    actor: Actor = "cli",
) -> Tenant:
    """Create a tenant with its own schema, host names and email domains; all or nothing."""
    slug_validate(slug)
    if not (name or "").strip():
        raise TenantError("A tenant needs a name.")
    host_list = list(dict.fromkeys(host_normalize(h) for h in (hosts or [default_host(slug)])))
    domain_list = list(dict.fromkeys(email_domain_normalize(d) for d in email_domains))
    if Tenant.objects.filter(slug=slug).exists():
        raise TenantError(f"Tenant {slug!r} already exists.")
    _hosts_check_free(host_list)
    email_domains_check_claimable(domain_list)
    # Outside the tenant's transaction: a template built here stays for the next tenant even if
    # this one fails, and pg_dump (its own connection) can read it.
    from_template = template_ready()
    try:
        with transaction.atomic():
            # The schema is created inside this transaction: a failure leaves neither a tenant
            # row, nor a schema, nor host names behind.
            tenant = Tenant(slug=slug, name=name.strip(), schema_name=slug.replace("-", "_"))
            tenant.auto_create_schema = False  # the schema comes from the template below
            tenant.save(verbosity=0)
            if from_template:
                schema_clone_from_template(schema_name=tenant.schema_name)
            else:  # template built in a still-open transaction (tests): migrate this one schema
                tenant.create_schema(check_if_exists=False, verbosity=0)
            Domain.objects.bulk_create(
                [Domain(tenant=tenant, domain=host, is_primary=index == 0) for index, host in enumerate(host_list)]
            )
            # Only operators create tenants (CLI, demo set-up): the domains they name are verified.
            _verification_lock()
            email_domains_check_claimable(domain_list)  # again, under the lock
            rows = EmailDomain.objects.bulk_create([
                EmailDomain(tenant=tenant, domain=domain, verified_at=timezone.now(),
                            verified_method=EmailDomain.Method.OPERATOR) for domain in domain_list])
            removed = [claim for row in rows for claim in _claims_of_others_remove(row=row, actor=actor)]
            audit_record(
                actor=actor, action="tenant.create", tenant=tenant, target=slug,
                data={"hosts": host_list, "email_domains": domain_list, "email_domains_verified": "operator",
                      **({"claims_removed": removed} if removed else {})},
            )
    except IntegrityError as exc:  # a concurrent create won the race
        raise TenantError(f"Tenant {slug!r} could not be created: {exc}") from exc
    transaction.on_commit(routing_invalidate)
    return tenant


def tenant_hosts_add(*, tenant: Tenant, hosts: Iterable[str], actor: Actor) -> list[Domain]:
    host_list = [host_normalize(h) for h in hosts]
    _hosts_check_free(host_list, tenant=tenant)
    with transaction.atomic():
        created = [
            Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant, "is_primary": False})[0]
            for host in host_list
        ]
        audit_record(actor=actor, action="tenant.hosts_add", tenant=tenant, data={"hosts": host_list})
        transaction.on_commit(routing_invalidate)
    return created


def tenant_hosts_remove(*, tenant: Tenant, hosts: Iterable[str], actor: Actor) -> int:
    """Stop routing these host names to the tenant (its primary host stays: move it first)."""
    host_list = [host_normalize(h) for h in hosts]
    with transaction.atomic():
        rows = Domain.objects.filter(tenant=tenant, domain__in=host_list)
        if rows.filter(is_primary=True).exists():
            raise TenantError("The primary host cannot be removed; make another host primary first.")
        deleted, _ = rows.delete()
        if deleted:
            audit_record(actor=actor, action="tenant.hosts_remove", tenant=tenant, data={"hosts": host_list})
            transaction.on_commit(routing_invalidate)
    return deleted


def tenant_host_primary_set(*, tenant: Tenant, host: str, actor: Actor) -> Domain:
    """Make one of the tenant's hosts its primary (the one links and e-mails use)."""
    host = host_normalize(host)
    with transaction.atomic():
        row = Domain.objects.select_for_update().filter(tenant=tenant, domain=host).first()
        if row is None:
            raise TenantError(f"{host} is not a host of tenant {tenant.slug}.")
        if not row.is_primary:
            Domain.objects.filter(tenant=tenant, is_primary=True).update(is_primary=False)
            Domain.objects.filter(pk=row.pk).update(is_primary=True)
            row.is_primary = True
            audit_record(actor=actor, action="tenant.host_primary_set", tenant=tenant, target=host)
            transaction.on_commit(routing_invalidate)
    return row


def tenant_status_set(*, tenant: Tenant, status: str, actor: Actor) -> Tenant:
    """Activate or suspend a tenant; hosts route by the new status from the next request on."""
    if status not in Tenant.Status.values:
        raise TenantError(f"Unknown tenant status {status!r}: use one of {', '.join(Tenant.Status.values)}.")
    with transaction.atomic():
        before = tenant.status
        Tenant.objects.filter(pk=tenant.pk).update(status=status)
        tenant.status = status
        if before != status:
            audit_record(actor=actor, action="tenant.status_set", tenant=tenant, target=tenant.slug,
                         data={"from": before, "to": status})
            transaction.on_commit(routing_invalidate)
    return tenant


def tenant_email_domains_add(*, tenant: Tenant, domains: Iterable[str], actor: Actor,
                             verified: bool = False) -> list[EmailDomain]:
    """Claim domains for the tenant; a domain already the tenant's is kept as is.

    A claim routes nothing until verified (email_domain_dns_check, or support staff). `verified=True`
    is for operators (the CLI's --email-domain), who mark them verified directly.
    """
    domain_list = list(dict.fromkeys(email_domain_normalize(d) for d in domains))
    email_domains_check_claimable(domain_list, tenant=tenant)
    if not verified:
        existing = set(tenant.email_domains.filter(domain__in=domain_list).values_list("domain", flat=True))
        pending = tenant.email_domains.filter(verified_at__isnull=True).count()
        if pending + len(set(domain_list) - existing) > MAX_PENDING_EMAIL_DOMAINS:
            # Every pending claim is looked up in DNS every few minutes: a bound on what one tenant queues.
            raise _refuse(f"At most {MAX_PENDING_EMAIL_DOMAINS} email domains can wait for verification at once: "
                          "verify or remove some first.", EmailDomainRefusal.too_many_pending)
    with transaction.atomic():
        added = []
        for domain in domain_list:
            row, created = EmailDomain.objects.get_or_create(tenant=tenant, domain=domain)
            if created:
                added.append(row)
            if verified and row.verified_at is None:
                email_domain_verified_mark(email_domain=row, method=EmailDomain.Method.OPERATOR, actor=actor)
        if added:
            audit_record(
                actor=actor, action="tenant.email_domains_add", tenant=tenant,
                data={"email_domains": [row.domain for row in added], "verified": verified},
            )
    return added


def tenant_email_domain_remove(*, tenant: Tenant, domain: str, actor: Actor) -> None:
    with transaction.atomic():
        deleted, _ = EmailDomain.objects.filter(tenant=tenant, domain=domain.strip().lower()).delete()
        if deleted:
            audit_record(actor=actor, action="tenant.email_domain_remove", tenant=tenant, data={"email_domain": domain})


def public_tenant_ensure() -> Tenant:
    """The public schema's own tenant row and hosts (the central site and Django admin)."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        defaults={"slug": "public", "name": "Portico"},
    )
    for index, host in enumerate(dict.fromkeys([settings.PORTICO_BASE_DOMAIN, "127.0.0.1"])):
        Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant, "is_primary": index == 0})
    return tenant
