"""Keeps Waiting Room (and disabled) users in the Waiting Room.

Fails closed: on a tenant host, a signed-in user whose membership is not active reaches only the
URLs named below; every other page redirects to the Waiting Room and every other API answers 403.
A new SSO protocol endpoint (e.g. single logout) must be added here by name.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from provisioning.models import Membership

WAITING_ROOM_ALLOWED_URL_NAMES = frozenset({
    "waiting_room",
    "waiting_room_ask",
    "login",
    "logout",
    "sso_login",
    "sso_acs",
    "sso_metadata",
    "sso_slo",
    "api_me",
    "healthz",
    "setup_link",  # a set-up link may be for someone waiting already; using it lets them in
    "setup_link_continue",  # the same page once the token moved into the session
})
WAITING_ROOM_ALLOWED_PREFIXES = ("/static/",)


def _url_name(request: HttpRequest) -> str | None:
    try:
        return resolve(request.path_info, urlconf=getattr(request, "urlconf", None)).url_name
    except Resolver404:
        return None


class WaitingRoomMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        if tenant is None or tenant.schema_name == "public" or user is None or not user.is_authenticated:
            return self.get_response(request)
        from provisioning.selectors import membership_state

        state = membership_state(user=user)
        if state == Membership.State.ACTIVE:
            return self.get_response(request)
        if request.path_info.startswith(WAITING_ROOM_ALLOWED_PREFIXES) or _url_name(request) in WAITING_ROOM_ALLOWED_URL_NAMES:
            return self.get_response(request)
        if request.path_info.startswith("/api/") or request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"error": state, "waiting_room_url": "/waiting-room/"}, status=403)
        return redirect("/waiting-room/")
