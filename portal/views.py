"""Project-level views: health and error pages."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    healthy = all(part["ok"] for part in report.values())
    down = [name for name, part in report.items() if not part["ok"]]
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "down": down, "components": report},
        status=200 if healthy else 503,
    )


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
