"""Public-schema models: tenants, their host names and email domains, and the audit trail."""
from __future__ import annotations

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


class EmailDomain(models.Model):
    """Which tenant signs in users of an email domain: the index email-first discovery reads
    before any tenant is known, so it lives in the public schema. One domain, one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="email_domains")
    domain = models.CharField(max_length=253)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [models.UniqueConstraint(Lower("domain"), name="email_domain_unique_ci")]

    def __str__(self) -> str:
        return self.domain


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
