"""Public-schema models: tenants, their host names and email domains, and the audit trail."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django_tenants.models import DomainMixin, TenantMixin


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    brand_colour = models.CharField(max_length=7, blank=True, help_text="Hex colour, e.g. #0b5cab")
    created = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False  # dropping a customer's data takes an explicit operator step

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_public(self) -> bool:
        return self.schema_name == settings.PUBLIC_SCHEMA_NAME

    @property
    def primary_host(self) -> str:
        domain = self.domains.filter(is_primary=True).first() or self.domains.first()
        return domain.domain if domain else ""


class Domain(DomainMixin):
    """A host name that routes to a tenant (e.g. acme.portal.example.com)."""

    class Meta:
        ordering = ["domain"]


def email_domain_token_new() -> str:
    """The random value a tenant publishes in DNS to prove it controls a domain (not a secret: it is public)."""
    return secrets.token_urlsafe(24)


class EmailDomain(models.Model):
    """Which tenant signs in users of an email domain: the index email-first discovery reads
    before any tenant is known, so it lives in the public schema.

    A domain a tenant adds is a *claim* (verified_at empty) that routes nothing until it is verified
    (tenants.domain_verification: a DNS TXT record, support staff, or an operator's CLI). Several
    tenants may claim one domain; only one can hold it verified.
    """

    class Method(models.TextChoices):
        DNS = "dns", "DNS TXT record"
        SUPPORT = "support", "Support staff"
        OPERATOR = "operator", "Operator (command line)"
        EXISTING = "existing", "Existing before verification (set by operators)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="email_domains")
    domain = models.CharField(max_length=253)
    created = models.DateTimeField(auto_now_add=True)
    verification_token = models.CharField(max_length=64, default=email_domain_token_new)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_method = models.CharField(max_length=16, choices=Method.choices, blank=True)
    # The last DNS check of a pending claim (tenants.types.DomainCheck value), shown to the admin.
    checked_at = models.DateTimeField(null=True, blank=True)
    check_result = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["domain"]
        constraints = [
            # One tenant holds a domain verified; claims of others may wait beside it.
            models.UniqueConstraint(Lower("domain"), condition=models.Q(verified_at__isnull=False),
                                    name="email_domain_verified_unique_ci"),
            models.UniqueConstraint("tenant", Lower("domain"), name="email_domain_tenant_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class AuditEvent(models.Model):
    """Who changed whose access, and when: written in the same transaction as the change."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    actor = models.CharField(max_length=254, help_text="e.g. support:ana@vendor.example, user:bo@acme.example, cli")
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=254, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
