"""Project-level views: health and error pages."""
from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Up/down per component for anyone (load balancers); the drivers' error text only for an internal
    caller, since it names hosts, ports and database names."""
    report = health_report()
    healthy = all(part["ok"] for part in report.values())
    down = [name for name, part in report.items() if not part["ok"]]
    components = report if _internal_caller(request) else {name: {"ok": part["ok"]} for name, part in report.items()}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "down": down, "components": components},
        status=200 if healthy else 503,
    )


def _internal_caller(request: HttpRequest) -> bool:
    """The health token, or a loopback peer that no proxy forwarded (a proxy's own address is loopback too)."""
    token = settings.PORTICO_HEALTH_TOKEN
    if token and hmac.compare_digest(request.headers.get("X-Portico-Health-Token", ""), token):
        return True
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
    return loopback and "HTTP_X_FORWARDED_FOR" not in request.META


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    import sys

    from portal.faults import UNAVAILABLE_ERRORS, unavailable_response

    # Django calls this inside its except block: a middleware that lost PostgreSQL or Redis gets a 503.
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return unavailable_response(request, exc)
    return render(request, "errors/500.html", status=500)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/400.html", status=400)
