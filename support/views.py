"""The set-up link page on a tenant host: a new tenant's first Client Administrator's way in
(support.services). GET only shows what the link does; POST uses it up, so a mail scanner
that follows links cannot spend it."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from provisioning.errors import SetupLinkExpired, SetupLinkRefused, SetupLinkUsed
from support.selectors import setup_link_usable
from support.services import setup_link_redeem


def _refused(request: HttpRequest, error: SetupLinkRefused) -> HttpResponse:
    status = 410 if isinstance(error, (SetupLinkExpired, SetupLinkUsed)) else 404
    return render(request, "support/setup_link_refused.html", {"error": error}, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def setup_link(request: HttpRequest, token: str) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.is_public:
        raise Http404
    if request.method == "POST":
        try:
            user = setup_link_redeem(tenant=tenant, token=token)
        except SetupLinkRefused as exc:
            return _refused(request, exc)
        # Tenant users have no passwords; the link stands in for the IdP this once.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome: you are a Client Administrator of {tenant.name}. Connect your "
                                  "identity provider below, then run a test sign-in.")
        return redirect("sso_settings")
    try:
        link = setup_link_usable(tenant=tenant, token=token)
    except SetupLinkRefused as exc:
        return _refused(request, exc)
    return render(request, "support/setup_link.html", {"link": link})
