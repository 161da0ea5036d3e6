"""Portico's Django admin site: support staff need their password and a verified second factor.

The password step is Django's admin login, throttled by django-axes (portal.axes_handler). A staff
member signed in with a password but not yet verified is sent to the second-factor page
(support.staff_views.staff_otp): enrolment of an authenticator the first time, its code every time.
Only then does has_permission hold, for every admin page.
"""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import urlencode

from support.staff_views import staff_otp


def _otp_verified(request: HttpRequest) -> bool:
    is_verified = getattr(request.user, "is_verified", None)  # set by django_otp's OTPMiddleware
    return bool(is_verified and is_verified())


class PorticoAdminSite(admin.AdminSite):
    site_header = "Portico support"
    site_title = "Portico support"
    index_title = "Tenants, sign-in health and New User requests"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and _otp_verified(request)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        user = request.user
        if user.is_active and user.is_staff and not _otp_verified(request):
            # Password done: the second factor next, keeping where they were going.
            target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
            return redirect(f"{reverse('admin:staff_otp', current_app=self.name)}?{urlencode({'next': target})}")
        return super().login(request, extra_context)

    def get_urls(self) -> list:
        return [path("2fa/", staff_otp, {"admin_site": self}, name="staff_otp"), *super().get_urls()]
