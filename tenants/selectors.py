"""Reads over the public schema."""
from __future__ import annotations

from django.conf import settings
from django.db.models import F, Q, QuerySet

from tenants.addresses import InvalidAddress, domain_canonical
from tenants.models import EmailDomain, Tenant
from tenants.types import tenant_connection


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").prefetch_related("domains", "email_domains")


def tenant_get(*, slug: str) -> Tenant | None:
    return Tenant.objects.exclude(schema_name="public").filter(slug=slug).first()


def tenant_for_email(*, email: str) -> Tenant | None:
    """The tenant holding this address's domain verified (discovery runs before any tenant is known).

    A pending claim routes nothing: several tenants may claim a domain, only its verified owner signs it in.
    """
    try:
        # The one normalisation of tenants.addresses (no Unicode case folding), as the ACS compares.
        domain = domain_canonical(email.strip().rsplit("@", 1)[-1]) if "@" in (email or "") else ""
    except InvalidAddress:
        return None
    if not domain:
        return None
    row = EmailDomain.objects.select_related("tenant").filter(domain=domain, verified_at__isnull=False).first()
    return row.tenant if row else None


def email_domains_of(*, tenant: Tenant) -> list[str]:
    """The tenant's verified email domains: the ones that route sign-ins and addresses to it."""
    return list(tenant.email_domains.filter(verified_at__isnull=False).values_list("domain", flat=True))


def email_domains_pending_of(*, tenant: Tenant) -> list[str]:
    """The tenant's claims still waiting for verification (they route nothing)."""
    return list(tenant.email_domains.filter(verified_at__isnull=True).values_list("domain", flat=True))


def email_domains_split(*, tenant: Tenant) -> tuple[list[str], list[str]]:
    """(verified, pending) in one query, for the ACS's domain check."""
    verified: list[str] = []
    pending: list[str] = []
    for domain, verified_at in tenant.email_domains.values_list("domain", "verified_at"):
        (pending if verified_at is None else verified).append(domain)
    return verified, pending


def email_domain_rows_of(*, tenant: Tenant) -> QuerySet[EmailDomain]:
    """Every email domain of the tenant, verified or not, for its settings page."""
    return tenant.email_domains.order_by("domain")


def email_domain_of_tenant(*, tenant: Tenant, domain: str) -> EmailDomain | None:
    return tenant.email_domains.filter(domain=(domain or "").strip().lower()[:253]).first()


def email_domain_claims_superseded(*, email_domain: EmailDomain) -> QuerySet[EmailDomain]:
    """Other tenants' pending claims that verifying `email_domain` would remove: the same domain, or one under it."""
    return (EmailDomain.objects.select_related("tenant").filter(verified_at__isnull=True)
            .exclude(tenant_id=email_domain.tenant_id)
            .filter(Q(domain=email_domain.domain) | Q(domain__endswith="." + email_domain.domain)).order_by("domain"))


def email_domain_ids_pending() -> list[int]:
    """Claims the periodic DNS sweep looks up, oldest check first."""
    rows = EmailDomain.objects.filter(verified_at__isnull=True).order_by(F("checked_at").asc(nulls_first=True), "pk")
    return list(rows.values_list("pk", flat=True))


def tenant_current() -> Tenant | None:
    """The tenant whose schema the connection is in (None in the public schema).

    schema_context() installs a stand-in object rather than the Tenant row, so look the row up.
    """
    connection = tenant_connection()
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return None if tenant.is_public else tenant
    if connection.schema_name == "public":
        return None
    return Tenant.objects.filter(schema_name=connection.schema_name).first()


def host_base_url(*, host: str, scheme: str | None = None) -> str:
    """The absolute base URL (scheme://host[:port]) of a Portico host, built without a request.

    PORTICO_URL_PORT only applies to PORTICO_URL_SCHEME: a TLS proxy in front of :8000 serves :443.
    """
    scheme = scheme or settings.PORTICO_URL_SCHEME
    port = settings.PORTICO_URL_PORT
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port and port != default_port and scheme == settings.PORTICO_URL_SCHEME else ""
    return f"{scheme}://{host.split(':')[0].lower()}{suffix}"


def tenant_url(*, tenant: Tenant, path: str = "/") -> str:
    """An absolute URL on the tenant's primary host, for e-mails and set-up links."""
    host = tenant.primary_host or f"{tenant.slug}.{settings.PORTICO_BASE_DOMAIN}"
    return host_base_url(host=host) + path
