"""Support staff's second factor for Django admin (wired into the admin site by portal.admin_site).

After the password: with no authenticator yet, enrolment (the otpauth URI, its secret and a QR
code, then one code to confirm); afterwards a code at every sign-in. Codes are checked by
support.services; the page only shows and posts.
"""
from __future__ import annotations

import io

import django_otp
import segno
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from provisioning.errors import ProvisioningError
from support.forms import StaffOtpForm
from support.services import staff_totp_device, staff_totp_enrol_confirm, staff_totp_enrol_start, staff_totp_verify


def _next_url(request: HttpRequest, admin_site) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("admin:index", current_app=admin_site.name)
    return target


def _qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True, title="Authenticator QR code")
    return out.getvalue().decode()


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def staff_otp(request: HttpRequest, admin_site) -> HttpResponse:
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=admin_site.name))
    next_url = _next_url(request, admin_site)
    if request.method == "POST" and request.POST.get("action") == "sign_out":
        logout(request)
        return redirect(reverse("admin:login", current_app=admin_site.name))
    if user.is_verified():  # type: ignore[attr-defined]  # django_otp's OTPMiddleware adds it
        return redirect(next_url)
    device = staff_totp_device(user=user)
    enrolling = device is None
    form = StaffOtpForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        token = form.cleaned_data["otp_token"]
        try:
            device = (staff_totp_enrol_confirm(user=user, token=token) if enrolling
                      else staff_totp_verify(user=user, token=token))
        except ProvisioningError as exc:
            form.add_error("otp_token", str(exc))
        else:
            request.session.cycle_key()  # a new session key for the fully signed-in session
            django_otp.login(request, device)
            return redirect(next_url)
    context = {**admin_site.each_context(request), "title": "Second factor", "form": form, "next": next_url,
               "enrolling": enrolling}
    if enrolling:
        pending = staff_totp_enrol_start(user=user)
        context.update(otpauth_uri=pending.config_url, secret=_b32(pending.bin_key),
                       qr_svg=mark_safe(_qr_svg(pending.config_url)))  # segno's own SVG, from our URI only
    status = 400 if form.is_bound and form.errors else 200
    return TemplateResponse(request, "support/admin/staff_otp.html", context, status=status)


def _b32(key: bytes) -> str:
    from base64 import b32encode

    raw = b32encode(key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))
