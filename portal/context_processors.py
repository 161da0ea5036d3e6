from __future__ import annotations

from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    is_tenant = tenant is not None and tenant.schema_name != "public"
    return {
        "current_tenant": tenant if is_tenant else None,
        "brand_colour": (tenant.brand_colour if is_tenant and tenant.brand_colour else "#0b5cab"),
    }
