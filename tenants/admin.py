"""Django admin of the public schema's own models, and pieces other apps' admins reuse."""
from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.models import Tenant


class TenantFilter(admin.SimpleListFilter):
    """Every customer tenant, whether or not it has requests yet (the public site never has any)."""

    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(t.pk), t.name) for t in Tenant.objects.exclude(schema_name="public").order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset
