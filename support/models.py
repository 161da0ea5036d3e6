"""Public-schema models of the cross-tenant support workflow: New User requests and set-up links.

Support staff work one queue across all tenants, so these rows live in the public schema."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from tenants.models import Tenant


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
