"""Tenant routing for every request: django-tenants' middleware with a cached host lookup and
without re-issuing `SET search_path` when the connection is already in the tenant's schema."""
from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpResponse, HttpResponseNotFound
from django_tenants.middleware.main import TenantMainMiddleware

from tenants.routing import tenant_for_host
from tenants.types import TenantRequest, tenant_connection


class CachedTenantMiddleware(TenantMainMiddleware):
    """Upstream sets the public schema, queries Domain ⋈ Tenant, then sets the tenant's schema on
    every request; each set forgets the connection's search_path, so the next query pays a `SET`.
    Here a cached host costs no database round trip when the persistent connection is already in
    that schema (TENANT_LIMIT_SET_CALLS keeps the `SET` to when the schema actually changes)."""

    def process_request(self, request: TenantRequest) -> HttpResponse | None:
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return HttpResponseNotFound()
        tenant = tenant_for_host(host=hostname)
        if tenant is None:
            tenant_connection().set_schema_to_public()
            return self.no_tenant_found(request, hostname)
        tenant.domain_url = hostname
        request.tenant = tenant
        connection = tenant_connection()
        if connection.schema_name == tenant.schema_name and connection.include_public_schema:
            # Same schema as the connection's: keep the search_path it already set (and the
            # content-type cache set_tenant would clear), just point at this request's tenant.
            connection.tenant = tenant
        else:
            connection.set_tenant(tenant)
        self.setup_url_routing(request)
        return None
