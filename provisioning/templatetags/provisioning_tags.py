"""Template helpers for the provisioning pages and e-mails."""
from __future__ import annotations

from django import template

from provisioning.models import AccessLevel

register = template.Library()


@register.filter
def access_level_label(value: str) -> str:
    """`property-manager` → `Property Manager` (New User requests keep the slug)."""
    level = AccessLevel.parse(value or "")
    return level.label if level else (value or "")
