"""Template helpers for the provisioning pages and e-mails."""
from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from provisioning.models import AccessLevel

register = template.Library()


@register.filter
def access_level_label(value: str) -> str:
    """`property-manager` → `Property Manager` (New User requests keep the slug)."""
    level = AccessLevel.parse(value or "")
    return level.label if level else (value or "")


@register.filter
def email_wrap(value: str) -> SafeString:
    """An e-mail address that may wrap after its @ and dots, never mid-word (`<wbr>`)."""
    text = escape(value or "")
    return mark_safe(text.replace("@", "<wbr>@").replace(".", ".<wbr>"))


@register.simple_tag
def pending_new_user_requests() -> int:
    """How many New User requests wait for support (the Django admin index)."""
    from support.selectors import new_user_requests_pending_count

    return new_user_requests_pending_count()
