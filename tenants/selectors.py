"""Reads over the public schema."""
from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import EmailDomain, Tenant


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").prefetch_related("domains", "email_domains")


def tenant_get(*, slug: str) -> Tenant | None:
    return Tenant.objects.exclude(schema_name="public").filter(slug=slug).first()


def tenant_for_email(*, email: str) -> Tenant | None:
    """The tenant whose email domains include this address's domain (discovery runs before any tenant is known)."""
    domain = email.strip().rsplit("@", 1)[-1].lower() if "@" in (email or "") else ""
    if not domain:
        return None
    row = EmailDomain.objects.select_related("tenant").filter(domain__iexact=domain).first()
    return row.tenant if row else None


def email_domains_of(*, tenant: Tenant) -> list[str]:
    return list(tenant.email_domains.values_list("domain", flat=True))


def tenant_current() -> Tenant | None:
    """The tenant whose schema the connection is in (None in the public schema).

    schema_context() installs a stand-in object rather than the Tenant row, so look the row up.
    """
    from django.db import connection

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return None if tenant.is_public else tenant
    if connection.schema_name == "public":
        return None
    return Tenant.objects.filter(schema_name=connection.schema_name).first()
