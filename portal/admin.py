"""The Tenant admin as support staff see it, composed from what each feature app contributes.

tenants/ registers the tenant's own admin and knows nothing of the features; the project package
may import everything, so it puts the pieces together: sso's "single sign-on" column,
provisioning's users column and panel, and support's "Send set-up link" button (in the template).
"""
from __future__ import annotations

from django.contrib import admin

from provisioning.admin import TenantMembersAdminMixin
from sso.admin import TenantSsoAdminMixin
from tenants.admin import TenantAdmin
from tenants.models import Tenant


class PortalTenantAdmin(TenantSsoAdminMixin, TenantMembersAdminMixin, TenantAdmin):
    list_display = [*TenantAdmin.list_display, "sso", "members"]
    change_form_template = "portal/admin/tenant_change_form.html"


if admin.site.is_registered(Tenant):
    admin.site.unregister(Tenant)
admin.site.register(Tenant, PortalTenantAdmin)
