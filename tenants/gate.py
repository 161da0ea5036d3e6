"""The one gate for a tenant's status: a suspended tenant's hosts serve nothing but the page saying so.

Sits after the session middleware on every request. On a suspended tenant's host it ends any session
(sign-in, SAML, set-up link) at its next request and answers every path with the same clear page;
sign-in (SP- and IdP-initiated), set-up links, Team Members and SSO settings are all refused by this
one check instead of each view remembering it. Reactivating the tenant lifts it at the next request.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.models import Tenant

# Static files and the health probe say nothing about the tenant and are needed to render the page.
_OPEN_PREFIXES = ("/static/", "/healthz")


def tenant_is_suspended(tenant: Tenant | None) -> bool:
    return tenant is not None and not tenant.is_public and tenant.status == Tenant.Status.SUSPENDED


class TenantStatusGateMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if not tenant_is_suspended(tenant) or request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        if not request.session.is_empty():
            request.session.flush()
        response = render(request, "tenants/suspended.html", {"tenant": tenant}, status=403)
        # The SAML session cookie (djangosaml2) is not ours to flush here; it holds no identity,
        # and every SAML endpoint behind this gate is refused anyway.
        return response
