"""Tenant-schema models of directory sync: SCIM bearer tokens, and the SCIM view of users and groups.

A ScimUser is the SCIM resource of one membership (provisioning.Membership carries the identity
binding and the state); its `attributes` keep the SCIM document Entra wrote (names, emails,
addresses, enterprise extension...), so GET answers what was PUT/PATCHed. A ScimGroup is a
directory group; its `external_id` (Entra's objectId) is what IdentityProvider.group_access_levels
is keyed by, the same value the SAML groups claim carries.
"""
from __future__ import annotations

import hashlib
import uuid

from django.db import models
from django.db.models.functions import Lower

from provisioning.models import Membership


class ScimToken(models.Model):
    """A bearer token of this tenant's SCIM endpoint. Only its SHA-256 is kept; the token is shown once."""

    name = models.CharField(max_length=100)
    token_sha256 = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=16, help_text="The token's last characters, to tell tokens apart")
    created_by = models.CharField(max_length=254)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        """How audit records name changes made with this token."""
        return f"scim:{self.name}"

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256((token or "").encode()).hexdigest()


class ScimUser(models.Model):
    """The SCIM resource of a membership. Kept after DELETE as a tombstone (deleted_at set), when it
    is no longer visible through SCIM."""

    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="scim")
    user_name = models.CharField(max_length=256)
    external_id = models.CharField(max_length=256, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # The access level directory groups gave (empty: none). Lets group removal take back exactly
    # what a group gave, and never what someone granted in Portico.
    group_grant = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "pk"]
        verbose_name = "SCIM user"
        constraints = [
            models.UniqueConstraint(Lower("user_name"), condition=models.Q(deleted_at__isnull=True),
                                    name="scim_user_name_unique_ci"),
            models.UniqueConstraint(fields=["external_id"], condition=models.Q(deleted_at__isnull=True)
                                    & ~models.Q(external_id=""), name="scim_user_external_id_unique"),
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(models.Model):
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    display_name = models.CharField(max_length=256)
    external_id = models.CharField(max_length=256, blank=True)
    members = models.ManyToManyField(ScimUser, blank=True, related_name="groups")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "pk"]
        verbose_name = "SCIM group"
        constraints = [
            models.UniqueConstraint(fields=["external_id"], condition=~models.Q(external_id=""),
                                    name="scim_group_external_id_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name
