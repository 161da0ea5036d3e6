"""Token management in the "Provisioning (SCIM)" section of the SSO settings page."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from scim.errors import ScimError
from scim.services import scim_token_create, scim_token_revoke
from sso.settings_views import SETTINGS_PATH, client_administrator_required
from tenants.types import MemberRequest

SECTION = f"{SETTINGS_PATH}#provisioning"


@never_cache
@require_POST
@client_administrator_required
def scim_token_new(request: MemberRequest) -> HttpResponse:
    """Create a token and show it once, on a page of its own that is never cached."""
    token, secret = scim_token_create(tenant=request.tenant, name=request.POST.get("name", ""), actor=request.user)
    return render(request, "scim/token_created.html", {
        "token": token, "secret": secret, "tenant_url": request.build_absolute_uri("/scim/v2/"),
        "back_url": SECTION})


@never_cache
@require_POST
@client_administrator_required
def scim_token_revoke_view(request: MemberRequest, token_id: int) -> HttpResponse:
    try:
        token = scim_token_revoke(tenant=request.tenant, token_id=token_id, actor=request.user)
    except ScimError:
        messages.warning(request, "That token does not exist.")
        return redirect(SECTION)
    messages.success(request, f"Revoked {token.name}: Entra can no longer provision with it.")
    return redirect(SECTION)
