"""The "Provisioning (SCIM)" section of the SSO settings page, as an inclusion tag so the SSO view
needs no change: `{% load scim_tags %}{% scim_settings_section %}`."""
from __future__ import annotations

from django import template

from scim.selectors import scim_activity_recent, scim_tokens
from sso.selectors import can_manage_sso

register = template.Library()


@register.inclusion_tag("scim/_settings_section.html", takes_context=True)
def scim_settings_section(context: template.Context) -> dict:
    request = context["request"]
    allowed = can_manage_sso(request.user)
    return {
        "allowed": allowed, "request": request, "csrf_token": context.get("csrf_token"),
        "tenant_url": request.build_absolute_uri("/scim/v2/"),
        "tokens": scim_tokens() if allowed else [],
        "activity": scim_activity_recent(tenant=request.tenant) if allowed else [],
    }
