"""Tenant-schema models: properties (sites) and who may do what at which of them."""
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
        order = [cls.TECHNICIAN, cls.PROPERTY_MANAGER, cls.CLIENT_ADMINISTRATOR, cls.SUPPORT]
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

    class Origin(models.TextChoices):
        JUST_IN_TIME = "jit", "Just in time (SSO)"
        PRE_PROVISIONED = "pre", "Pre-provisioned"
        REQUEST = "request", "New User request"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING_ROOM, db_index=True)
    access_level = models.CharField(max_length=32, choices=AccessLevel.choices, blank=True)
    properties = models.ManyToManyField(Property, blank=True, related_name="members")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.PRE_PROVISIONED)
    idp_subject = models.CharField(max_length=256, blank=True, help_text="NameID last asserted by the IdP")
    last_sso_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user.email} ({self.get_state_display()})"
