"""Keeps Waiting Room users in the Waiting Room."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

# Paths a Waiting Room user may still reach: the Waiting Room itself, sign-in/out and health.
WAITING_ROOM_ALLOWED_PREFIXES = ("/waiting-room/", "/sso/", "/logout/", "/login/", "/api/me", "/healthz", "/static/")


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
        if state == "active" or request.path.startswith(WAITING_ROOM_ALLOWED_PREFIXES):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "waiting_room" if state == "waiting_room" else "disabled"}, status=403)
        return redirect("/waiting-room/")
