"""Tenant-schema models: properties (sites) and who may do what at which of them.

Identity binding (issue 9, used by SAML sign-in and SCIM directory sync): a membership may be bound
to the identity provider's *immutable* subject, `idp_object_id` (Entra's objectId: the SAML claim
`http://schemas.microsoft.com/identity/claims/objectidentifier`, and the SCIM `externalId` when
Entra's mapping sends objectId there), under the issuer it belongs to, `idp_entity_id` (the IdP's
entity ID, e.g. `https://sts.windows.net/<directory id>/`). The pair is unique in a tenant.

- Both empty: not bound. Sign-in may match such a pre-provisioned account by e-mail, once; the
  first successful sign-in that carries an object id binds it.
- `idp_object_id` set and `idp_entity_id` empty: bound to that object id, issuer pending. SCIM
  writes this when the tenant has no IdP connected yet; the first sign-in from the tenant's IdP
  with that object id fills in the issuer. Nobody can sign in to it by e-mail alone.
- Both set: bound. Only an assertion from that issuer with that object id signs in to it; an
  assertion whose e-mail matches but whose object id differs is refused, never merged.

States `suspended` and `deprovisioned` are written only by directory sync (scim/): a suspended
member keeps access level and properties for reactivation (`state_before_suspension` says what to
go back to); a deprovisioned one is the audited tombstone of a SCIM DELETE, with no access. No SAML
assertion and no Portico grant takes either back to active; only the directory does.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models


class AccessLevel(models.TextChoices):
    """Ordered from least to most: a user may grant only levels up to their own."""

    TECHNICIAN = "technician", "Technician"
    PROPERTY_MANAGER = "property-manager", "Property Manager"
    CLIENT_ADMINISTRATOR = "client-administrator", "Client Administrator"
    SUPPORT = "support", "Support"

    @classmethod
    def rank(cls, value: str | None) -> int:
        order: list[str] = [cls.TECHNICIAN, cls.PROPERTY_MANAGER, cls.CLIENT_ADMINISTRATOR, cls.SUPPORT]
        return order.index(value) + 1 if value in order else 0

    @classmethod
    def parse(cls, text: str) -> "AccessLevel | None":
        """Accept a slug (`property-manager`) or a label (`Property Manager`), any case."""
        wanted = (text or "").strip().lower().replace("_", "-").replace(" ", "-")
        for level in cls:
            if wanted in (level.value, level.label.lower().replace(" ", "-")):
                return level
        return None


class Property(models.Model):
    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "properties"

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's standing in this tenant: access level, property access and sign-in state."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        WAITING_ROOM = "waiting_room", "Waiting Room"
        DISABLED = "disabled", "Disabled"
        SUSPENDED = "suspended", "Suspended by the directory"
        DEPROVISIONED = "deprovisioned", "Removed by the directory"

    class Origin(models.TextChoices):
        JUST_IN_TIME = "jit", "Just in time (SSO)"
        PRE_PROVISIONED = "pre", "Pre-provisioned"
        REQUEST = "request", "New User request"
        SCIM = "scim", "Directory sync (SCIM)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING_ROOM, db_index=True)
    access_level = models.CharField(max_length=32, choices=AccessLevel.choices, blank=True)
    properties = models.ManyToManyField(Property, blank=True, related_name="members")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.PRE_PROVISIONED)
    idp_subject = models.CharField(max_length=256, blank=True, help_text="NameID last asserted by the IdP")
    last_sso_at = models.DateTimeField(null=True, blank=True)
    idp_entity_id = models.CharField("bound IdP (entity ID)", max_length=1024, blank=True,
                                     help_text="Issuer the binding is under; empty with an object id: the tenant's IdP, pending")
    idp_object_id = models.CharField("bound immutable ID", max_length=256, blank=True,
                                     help_text="The IdP's immutable subject (Entra objectId)")
    bound_at = models.DateTimeField(null=True, blank=True)
    state_before_suspension = models.CharField(max_length=16, choices=State.choices, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(fields=["idp_entity_id", "idp_object_id"], condition=~models.Q(idp_object_id=""),
                                    name="membership_binding_unique"),
        ]

    @property
    def is_bound(self) -> bool:
        return bool(self.idp_object_id)

    def __str__(self) -> str:
        return f"{self.user.email} ({self.get_state_display()})"
