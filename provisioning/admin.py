"""What provisioning adds to the Tenant admin (composed in portal/admin.py): who has access."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from provisioning.selectors import tenant_members_overview
from tenants.models import Tenant


class TenantMembersAdminMixin(admin.ModelAdmin):
    """The tenant list's "users" column and the tenant page's list of users (read in its schema)."""

    @admin.display(description="users")
    def members(self, obj: Tenant) -> str:
        counts = tenant_members_overview(tenant=obj, limit=0)["counts"]
        return f"{counts['active']} active · {counts['waiting_room']} waiting · {counts['disabled']} disabled"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        tenant = self.get_object(request, object_id)
        extra = {"members_overview": tenant_members_overview(tenant=tenant)} if tenant is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})
