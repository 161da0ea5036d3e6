"""Public-schema models: tenants, their host names and email domains, and cross-tenant queues."""
from __future__ import annotations

import hashlib

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


class NewUserRequest(models.Model):
    """A property manager's request to give someone access; support staff decide it.

    Lives in the public schema so support staff work one queue across all tenants. Property ids
    refer to the tenant's schema; names are kept too so the queue reads well without entering it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="new_user_requests")
    email = models.EmailField()
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    access_level = models.CharField(max_length=32)
    properties = models.JSONField(default=list, help_text='[{"id": 1, "name": "...", "code": "..."}]')
    requested_by_email = models.EmailField()
    requested_by_name = models.CharField(max_length=300, blank=True)
    requested_from_property = models.CharField(max_length=200, blank=True)
    # The requester's user id in the tenant's schema (no FK can cross schemas).
    requested_by_user_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Kept beside decided_by so the record still says who decided if that staff account goes.
    decided_by_label = models.CharField(max_length=254, blank=True)
    rejection_reason = models.TextField(blank=True)
    decision_changes = models.JSONField(default=dict, blank=True, help_text="What approval changed")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="one_pending_request_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant.slug} ({self.status})"


class OutboundEmail(models.Model):
    """An e-mail Portico owes someone. Written in the transaction that decided to send it; the
    Celery task sends it and stamps sent_at, so a task delivered twice sends it once."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=64)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Callers that may decide the same thing twice (e.g. a daily certificate-expiry check) pass a
    # key; a second e-mail with the same key is not written.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}"


class SetupLink(models.Model):
    """A one-time link support staff send a new tenant's first Client Administrator, who has no
    way to sign in before the tenant's SSO works. Only the token's SHA-256 is kept: the link is
    shown once to the support person and e-mailed to the customer, never stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="setup_links")
    email = models.EmailField()
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "set-up link"

    def __str__(self) -> str:
        return f"set-up link for {self.email} → {self.tenant.slug}"

    @staticmethod
    def token_digest(token: str) -> str:
        return hashlib.sha256((token or "").encode()).hexdigest()
