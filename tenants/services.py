"""Tenant operations: creation, host names, email domains, audit records."""
from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from tenants.errors import TenantError
from tenants.models import AuditEvent, Domain, EmailDomain, Tenant
from tenants.routing import routing_invalidate
from tenants.schema_template import schema_clone_from_template, template_ready
from tenants.types import Actor

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
RESERVED_SLUGS = frozenset({"public", "www", "admin", "api", "static", "sso", "idp", "mail", "support"})
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


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
    value = (domain or "").strip().lower().lstrip("@").rstrip(".")
    if "." not in value:
        raise TenantError(f"Invalid email domain {domain!r}: give a domain such as acme.example.")
    return host_normalize(value)


def default_host(slug: str) -> str:
    return f"{slug}.{settings.PORTICO_BASE_DOMAIN}"


def _hosts_check_free(hosts: Iterable[str], *, tenant: Tenant | None = None) -> None:
    taken = Domain.objects.filter(domain__in=list(hosts))
    if tenant is not None:
        taken = taken.exclude(tenant=tenant)
    owner = taken.select_related("tenant").first()
    if owner:
        raise TenantError(f"Host {owner.domain} already belongs to tenant {owner.tenant.slug}.")


def email_domains_check_free(domains: Iterable[str], *, tenant: Tenant | None = None) -> None:
    """One tenant per email domain: TenantError naming the owner if another tenant has one of these."""
    for domain in domains:
        owner = EmailDomain.objects.filter(domain__iexact=domain).select_related("tenant").first()
        if owner and (tenant is None or owner.tenant_id != tenant.pk):
            raise TenantError(f"Email domain {domain} already signs in through tenant {owner.tenant.slug}.")


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
    email_domains_check_free(domain_list)
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
            EmailDomain.objects.bulk_create([EmailDomain(tenant=tenant, domain=domain) for domain in domain_list])
            audit_record(
                actor=actor, action="tenant.create", tenant=tenant, target=slug,
                data={"hosts": host_list, "email_domains": domain_list},
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


def tenant_email_domains_add(*, tenant: Tenant, domains: Iterable[str], actor: Actor) -> list[EmailDomain]:
    """Add to the tenant's one list of email domains; a domain already the tenant's is kept as is."""
    domain_list = list(dict.fromkeys(email_domain_normalize(d) for d in domains))
    email_domains_check_free(domain_list, tenant=tenant)
    with transaction.atomic():
        added = []
        for domain in domain_list:
            row, created = EmailDomain.objects.get_or_create(tenant=tenant, domain=domain)
            if created:
                added.append(row)
        if added:
            audit_record(
                actor=actor, action="tenant.email_domains_add", tenant=tenant,
                data={"email_domains": [row.domain for row in added]},
            )
    return added


def tenant_email_domain_remove(*, tenant: Tenant, domain: str, actor: Actor) -> None:
    with transaction.atomic():
        deleted, _ = EmailDomain.objects.filter(tenant=tenant, domain__iexact=domain.strip()).delete()
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
