"""The set-up link pages on a tenant host: a new tenant's first Client Administrator's way in
(support.services). Opening the e-mailed /setup/<token>/ moves the token into the session and
redirects to /setup/, which shows what the link does; POST uses it up, so a mail scanner that
follows links cannot spend it."""
from __future__ import annotations

import time

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


# The token moves from the e-mailed URL into the session at the first open, and the browser goes on
# to the token-free /setup/: what access logs, browser history and Referer headers see from then on
# carries no credential. It stays in the session this long.
SETUP_SESSION_KEY = "portico_setup_link"
SETUP_SESSION_SECONDS = 15 * 60


def _redeem(request: HttpRequest, tenant, token: str) -> HttpResponse:
    try:
        user = setup_link_redeem(tenant=tenant, token=token)
    except SetupLinkRefused as exc:
        return _refused(request, exc)
    # Tenant users have no passwords; the link stands in for the IdP this once.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # a new session: the token goes
    messages.success(request, f"Welcome: you are a Client Administrator of {tenant.name}. Connect your "
                              "identity provider below, then run a test sign-in.")
    return redirect("sso_settings")


def _tenant_or_404(request: HttpRequest):
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.is_public:
        raise Http404
    return tenant


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def setup_link(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed URL: a usable token is exchanged for a session value at once (GET), so the
    page itself is token-free. A POST here still redeems (older pages posted to this URL)."""
    tenant = _tenant_or_404(request)
    if request.method == "POST":
        return _redeem(request, tenant, token)
    try:
        setup_link_usable(tenant=tenant, token=token)
    except SetupLinkRefused as exc:
        return _refused(request, exc)
    request.session[SETUP_SESSION_KEY] = {"token": token, "until": time.time() + SETUP_SESSION_SECONDS}
    return redirect("setup_link_continue")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def setup_link_continue(request: HttpRequest) -> HttpResponse:
    """The token-free page: GET shows what the link does; POST uses it up, so a mail scanner that
    follows links cannot spend it."""
    tenant = _tenant_or_404(request)
    held = request.session.get(SETUP_SESSION_KEY)
    if not isinstance(held, dict) or float(held.get("until") or 0) < time.time() or not held.get("token"):
        request.session.pop(SETUP_SESSION_KEY, None)
        return _refused(request, SetupLinkRefused(
            "This page needs the set-up link from your e-mail: open it again (it works until it is used "
            "or expires)."))
    token = str(held["token"])
    if request.method == "POST":
        request.session.pop(SETUP_SESSION_KEY, None)
        return _redeem(request, tenant, token)
    try:
        link = setup_link_usable(tenant=tenant, token=token)
    except SetupLinkRefused as exc:
        request.session.pop(SETUP_SESSION_KEY, None)
        return _refused(request, exc)
    return render(request, "support/setup_link.html", {"link": link})
