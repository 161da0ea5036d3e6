"""Email-first sign-in: the user gives an email, Portico finds the tenant and offers its IdP's button.

On a tenant host only that tenant's email domains get a button; on the central host the email
domain picks the tenant and the button goes to that tenant's primary host.
"""
from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from sso.forms import DiscoveryForm
from sso.redirects import safe_next
from sso.selectors import Discovery, sso_discovery
from tenants.models import Tenant


def _scheme(request: HttpRequest) -> str | None:
    # None lets sp_endpoints use PORTICO_BASE_URL's scheme and port.
    return "https" if request.is_secure() else None


def _discovery_page(request: HttpRequest, *, tenant: Tenant | None) -> HttpResponse:
    next_path = safe_next(request.POST.get("next") if request.method == "POST" else request.GET.get("next"))
    discovery: Discovery | None = None
    if request.method == "POST":
        form = DiscoveryForm(request.POST)
        if form.is_valid():
            discovery = sso_discovery(
                email=form.cleaned_data["email"], next_path=next_path, current_tenant=tenant,
                current_host=request.get_host() if tenant is not None else None, scheme=_scheme(request),
            )
    else:
        form = DiscoveryForm(initial={"next": next_path})
    context = {
        "form": form, "discovery": discovery, "next_path": next_path, "tenant": tenant,
        "central_login_url": f"{settings.PORTICO_BASE_URL}/login/",
    }
    return render(request, "sso/login.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def tenant_login(request: HttpRequest) -> HttpResponse:
    """/login/ on a tenant host."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.is_public:
        raise Http404
    return _discovery_page(request, tenant=tenant)


@never_cache
@require_http_methods(["GET", "POST"])
def central_login(request: HttpRequest) -> HttpResponse:
    """/ and /login/ on the central host."""
    return _discovery_page(request, tenant=None)
